using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ActorRefresh.Benchmarks.Peers;

/// <summary>
/// ActorRefresh as a host uses it: <c>AddActorRefreshEngine</c> + Akka.Hosting, SQLite journal in a temp folder,
/// <see cref="ITokenProvider"/>. The token endpoint client is the shared counting one.
/// </summary>
public sealed class ActorRefreshPeer : ITokenPeer
{
    private readonly IHost _host;
    private bool _stopped;

    private ActorRefreshPeer(IHost host, string dataDirectory)
    {
        _host = host;
        DataDirectory = dataDirectory;
        Provider = host.Services.GetRequiredService<ITokenProvider>();
        Accounts = host.Services.GetRequiredService<IAccountAdmin>();
        Engine = host.Services.GetRequiredService<EngineServices>();
    }

    /// <inheritdoc />
    public string Name => "ActorRefresh";

    /// <summary>The token provider.</summary>
    public ITokenProvider Provider { get; }

    /// <summary>Registration and the other account commands.</summary>
    public IAccountAdmin Accounts { get; }

    /// <summary>The engine's shared services (read side, limiter).</summary>
    internal EngineServices Engine { get; }

    /// <summary>Folder of the SQLite journal.</summary>
    public string DataDirectory { get; }

    /// <summary>Starts an engine whose options come from <paramref name="engine"/> (keys under ActorRefresh:Engine).</summary>
    public static async Task<ActorRefreshPeer> StartAsync(Upstream upstream, IDictionary<string, string?> engine, string? dataDirectory = null)
    {
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "actorrefresh-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);
        var settings = upstream.ProviderSettings();
        settings["ActorRefresh:Storage:DataDirectory"] = dataDirectory;
        settings["ActorRefresh:Storage:EncryptionKey"] = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i * 7 + 1)).ToArray());
        foreach (var (key, value) in engine) settings["ActorRefresh:Engine:" + key] = value;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddLogging();
        builder.Services.AddSingleton<ITokenEndpointClient>(upstream.Client);
        builder.Services.AddActorRefreshEngine(configuration);
        builder.Services.AddAkka("actor-refresh", (akka, provider) => akka
            .WithActorRefresh(provider)
            .AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend));
        var host = builder.Build();
        await host.StartAsync();
        return new ActorRefreshPeer(host, dataDirectory);
    }

    /// <inheritdoc />
    public async Task AddAsync(string accountId, string refreshToken, string accessToken, DateTimeOffset expiresAt) =>
        await Accounts.RegisterAsync(new AccountCredentials(accountId, "claude", new Secret(refreshToken), new Secret(accessToken), expiresAt));

    /// <inheritdoc />
    public ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        var pending = Provider.GetTokenAsync(accountId, cancellationToken);
        if (pending.IsCompletedSuccessfully) return new ValueTask<Secret>(pending.Result.Value);
        return SlowAsync(pending);
    }

    private static async ValueTask<Secret> SlowAsync(ValueTask<AccessToken> pending) => (await pending.ConfigureAwait(false)).Value;

    /// <summary>Stops the host (the journal stays for a restart).</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await _host.StopAsync();
        _host.Dispose();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
