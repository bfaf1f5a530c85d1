using System.Threading.Channels;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Providers;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.ReadSide;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.Hosting.Materialize;

/// <summary>
/// Keeps the configured access-only files up to date: each new access token an account publishes on this node is
/// written to its files (atomically, mode 0600) right after the refresh, well before the old token expires. Nothing but
/// the engine holds the refresh token, so a sandbox that mounts such a file cannot spend the grant. Writes run on a
/// background loop: the account's thread only queues them.
/// </summary>
internal sealed partial class MaterializedFiles : BackgroundService
{
    private readonly ILookup<string, MaterializedFileTarget> _targets;
    private readonly AccountReadSide _readSide;
    private readonly IProviderRegistry _providers;
    private readonly ILogger<MaterializedFiles> _logger;
    private readonly Channel<(string AccountId, AccessToken Token)> _pending =
        Channel.CreateUnbounded<(string, AccessToken)>(new UnboundedChannelOptions { SingleReader = true });

    public MaterializedFiles(IReadOnlyList<MaterializedFileTarget> targets, EngineServices services, IProviderRegistry providers, ILogger<MaterializedFiles> logger)
    {
        _targets = targets.ToLookup(t => t.AccountId, StringComparer.Ordinal);
        _readSide = services.ReadSide;
        _providers = providers;
        _logger = logger;
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _readSide.NewTokenPublished += OnNewToken;
        // Subscribed first, then the tokens already published are queued too: none is missed in between.
        foreach (var group in _targets)
            if (_readSide.TryGetFreshToken(group.Key, out var token)) OnNewToken(group.Key, token);
        return base.StartAsync(cancellationToken);
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        _readSide.NewTokenPublished -= OnNewToken;
        _pending.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    private void OnNewToken(string accountId, AccessToken token)
    {
        if (_targets.Contains(accountId)) _pending.Writer.TryWrite((accountId, token));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var (accountId, token) in _pending.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
                foreach (var target in _targets[accountId]) Write(target, token);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Write(MaterializedFileTarget target, AccessToken token)
    {
        try
        {
            AccessTokenFile.Write(target.Path, target.Format, target.Variable, token.Value, token.ExpiresAt, ScopesOf(target.AccountId));
            LogWritten(target.AccountId, target.Path, token.ExpiresAt);
        }
        catch (CredentialsFileException exception)
        {
            // The message names the path and the fault, never the token.
            LogNotWritten(target.AccountId, exception.Message);
        }
    }

    /// <summary>The scopes of the account's provider profile; null (keep the file's) while unknown.</summary>
    private IReadOnlyList<string>? ScopesOf(string accountId) =>
        _readSide.TryGetStatus(accountId, out var status) && _providers.TryGet(status.Provider, out var profile) && !string.IsNullOrWhiteSpace(profile.Scope)
            ? profile.Scope.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            : null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Account {AccountId}: wrote its access token (expires {ExpiresAt:O}) to {Path}")]
    private partial void LogWritten(string accountId, string path, DateTimeOffset expiresAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Account {AccountId}: materialized file not written: {Fault}")]
    private partial void LogNotWritten(string accountId, string fault);
}
