using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.TestKit;

/// <summary>
/// A real HTTP server on 127.0.0.1 (a free port) that behaves like the Claude OAuth token endpoint
/// (<c>POST /v1/oauth/token</c>, JSON or RFC 6749 form body) and usage endpoint (<c>GET /api/oauth/usage</c>),
/// with scripted faults and counters for asserting how a client behaves.
/// </summary>
/// <remarks>
/// <para>Fault selection for each token request, first match wins: the account's script queue, the global ("*") script
/// queue, the account's persistent fault, the global persistent fault. Scripts are consumed one per call.</para>
/// <para>A token request is checked in this order: the CDN's User-Agent check (<see cref="FakeTokenServerOptions.RequireUserAgent"/>),
/// the body (400 <c>invalid_request</c>, <c>unsupported_grant_type</c>, <c>invalid_client</c>; these consume no fault), then
/// the fault if any, then the refresh token. Only a success consumes the refresh token; of the faults only
/// <see cref="FakeFault.Delay"/> (which then answers normally), <see cref="FakeFault.RotateThenReset"/> and
/// <see cref="FakeFault.RotateOnReceipt"/> do. <see cref="FakeTokenServerOptions.Latency"/> and <see cref="FakeFault.Delay"/>
/// wait before the refresh token is checked, and a client that goes away meanwhile ends the request with nothing
/// consumed; <see cref="FakeFault.RotateOnReceipt"/> consumes it on arrival, as a real provider does.</para>
/// <para>Every counter exists server-wide and per account (<see cref="CountersOf"/>).</para>
/// <para>The usage endpoint accepts only the account's current access token, unexpired and not revoked; an access token
/// replaced by a later refresh is answered 401 like an expired one.</para>
/// <para>The server writes no log output, so no token can reach a log.</para>
/// </remarks>
public sealed partial class FakeTokenServer : IAsyncDisposable
{
    /// <summary>The account id that addresses every account in <see cref="Script"/>, <see cref="SetPersistentFault"/> and <see cref="ScriptUsage"/>.</summary>
    public const string AllAccounts = "*";

    internal const string DefaultScope = "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload";

    private readonly FakeTokenServerOptions _options;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, AccountState> _accounts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccountState> _refreshOwners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccountState> _accessOwners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _issued = new(StringComparer.Ordinal);
    private readonly AccountState _global = new(AllAccounts);
    private WebApplication? _app;
    private int _disposed;

    private int _totalRefreshCalls;
    private int _reuse;
    private int _overlapping;
    private int _callsDuringBackoff;
    private int _inFlight;
    private int _maxConcurrent;
    private int _delayed;

    private FakeTokenServer(FakeTokenServerOptions options)
    {
        _options = options;
    }

    /// <summary>The server's root address, e.g. <c>http://127.0.0.1:54321/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The token endpoint, <c>{BaseAddress}v1/oauth/token</c>.</summary>
    public Uri TokenEndpoint => new(BaseAddress, "v1/oauth/token");

    /// <summary>The usage endpoint, <c>{BaseAddress}api/oauth/usage</c>.</summary>
    public Uri UsageEndpoint => new(BaseAddress, "api/oauth/usage");

    /// <summary>Starts a server on 127.0.0.1 with a free port.</summary>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>The running server; dispose it to stop.</returns>
    public static async Task<FakeTokenServer> StartAsync(FakeTokenServerOptions? options = null, CancellationToken ct = default)
    {
        options ??= new FakeTokenServerOptions();
        ArgumentNullException.ThrowIfNull(options.Time);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.AccessTokenLifetime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Latency, TimeSpan.Zero);

        var server = new FakeTokenServer(options);
        // The empty builder reads no appsettings or environment, so a test's configuration cannot change the server.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(FakeTokenServer).Assembly.GetName().Name,
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IHostLifetime, QuietHostLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxConcurrentUpgradedConnections = null;
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        app.Run(server.HandleAsync);
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        server._app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    /// <summary>Creates an account and issues its first token pair.</summary>
    /// <param name="accountId">The account id; any string but "*".</param>
    /// <returns>The first pair.</returns>
    /// <exception cref="InvalidOperationException">The account already has tokens.</exception>
    public FakeAccountTokens CreateAccount(string accountId)
    {
        var account = GetOrAddAccount(accountId);
        lock (account.Gate)
        {
            if (account.HasTokens)
            {
                throw new InvalidOperationException($"Account '{accountId}' already exists.");
            }

            return IssuePair(account, rotateRefresh: true);
        }
    }

    /// <summary>The account's current token pair (what a successful refresh last returned).</summary>
    /// <param name="accountId">The account id.</param>
    /// <returns>The current pair.</returns>
    /// <exception cref="KeyNotFoundException">No such account.</exception>
    public FakeAccountTokens Current(string accountId)
    {
        var account = GetExistingAccount(accountId);
        lock (account.Gate)
        {
            return new FakeAccountTokens(account.AccessToken!, account.RefreshToken!, account.ExpiresAt);
        }
    }

    /// <summary>
    /// Simulates another program (such as the Claude Code CLI) refreshing this token family itself: the current
    /// refresh token is consumed and a new pair issued. Counts as no refresh call.
    /// </summary>
    /// <param name="accountId">The account id.</param>
    /// <returns>The new pair.</returns>
    /// <exception cref="KeyNotFoundException">No such account.</exception>
    public FakeAccountTokens RotateExternally(string accountId)
    {
        var account = GetExistingAccount(accountId);
        lock (account.Gate)
        {
            return IssuePair(account, rotateRefresh: true);
        }
    }

    /// <summary>Revokes the account's current access token: the usage endpoint answers 401 for it until the next refresh.</summary>
    /// <param name="accountId">The account id.</param>
    /// <exception cref="KeyNotFoundException">No such account.</exception>
    public void RevokeAccessToken(string accountId)
    {
        var account = GetExistingAccount(accountId);
        lock (account.Gate)
        {
            account.AccessRevoked = true;
        }
    }

    /// <summary>Queues faults for the next token requests of an account ("*" for any request), one per request, in order.</summary>
    /// <param name="accountId">The account id, or "*".</param>
    /// <param name="faults">The faults, in the order they answer.</param>
    public void Script(string accountId, params FakeFault[] faults) =>
        Enqueue(accountId, faults, static target => target.Faults);

    /// <summary>Sets a fault that answers every token request of an account ("*" for any) until cleared with null. Scripted faults go first.</summary>
    /// <param name="accountId">The account id, or "*".</param>
    /// <param name="fault">The fault, or null to clear it.</param>
    public void SetPersistentFault(string accountId, FakeFault? fault)
    {
        var target = Target(accountId);
        lock (target.Gate)
        {
            target.PersistentFault = fault;
        }
    }

    /// <summary>Sets what the usage endpoint reports for an account.</summary>
    /// <param name="accountId">The account id.</param>
    /// <param name="fiveHourUtilization">Utilization of the five-hour window, 0–100.</param>
    /// <param name="sevenDayUtilization">Utilization of the seven-day window, 0–100.</param>
    /// <param name="fiveHourResetsAt">When the five-hour window resets; null for five hours after each request.</param>
    /// <param name="sevenDayResetsAt">When the seven-day window resets; null for seven days after each request.</param>
    public void SetUsage(string accountId, double fiveHourUtilization, double sevenDayUtilization, DateTimeOffset? fiveHourResetsAt = null, DateTimeOffset? sevenDayResetsAt = null)
    {
        var account = GetOrAddAccount(accountId);
        lock (account.Gate)
        {
            account.FiveHourUtilization = fiveHourUtilization;
            account.SevenDayUtilization = sevenDayUtilization;
            account.FiveHourResetsAt = fiveHourResetsAt;
            account.SevenDayResetsAt = sevenDayResetsAt;
        }
    }

    /// <summary>Queues faults for the next usage requests of an account ("*" for any request), one per request, in order.</summary>
    /// <param name="accountId">The account id, or "*".</param>
    /// <param name="faults">The faults, in the order they answer.</param>
    public void ScriptUsage(string accountId, params FakeUsageFault[] faults) =>
        Enqueue(accountId, faults, static target => target.UsageFaults);

    /// <summary>
    /// Well-formed token requests (valid body, <c>refresh_token</c> grant, accepted client id) whose refresh token belongs to
    /// the account, current or consumed, whatever the answer.
    /// </summary>
    /// <param name="accountId">The account id.</param>
    /// <returns>The count; 0 for an unknown account.</returns>
    public int RefreshCalls(string accountId) =>
        _accounts.TryGetValue(accountId, out var account) ? Volatile.Read(ref account.RefreshCalls) : 0;

    /// <summary>Usage requests whose access token belongs to the account (current or not), whatever the answer.</summary>
    /// <param name="accountId">The account id.</param>
    /// <returns>The count; 0 for an unknown account.</returns>
    public int UsageCalls(string accountId) =>
        _accounts.TryGetValue(accountId, out var account) ? Volatile.Read(ref account.UsageCalls) : 0;

    /// <summary>Token requests of the account being processed right now (including ones held by a Delay or Hang fault).</summary>
    /// <param name="accountId">The account id.</param>
    /// <returns>The count; 0 for an unknown account.</returns>
    public int InFlightRefreshes(string accountId) =>
        _accounts.TryGetValue(accountId, out var account) ? Volatile.Read(ref account.InFlight) : 0;

    /// <summary>
    /// Every counter of one account at this instant: the server-wide <see cref="RefreshTokenReuse"/>,
    /// <see cref="OverlappingRefreshes"/> and <see cref="CallsDuringBackoff"/> restricted to the account's requests, and
    /// how many of its refresh tokens requests consumed and how many of those answers were lost.
    /// </summary>
    /// <param name="accountId">The account id.</param>
    /// <returns>The counters; all zero for an unknown account.</returns>
    public FakeAccountCounters CountersOf(string accountId)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        if (!_accounts.TryGetValue(accountId, out var account))
        {
            return FakeAccountCounters.None;
        }

        lock (account.Gate)
        {
            return new FakeAccountCounters(account.RefreshCalls, account.UsageCalls, account.Reuse, account.Overlapping,
                account.CallsDuringBackoff, account.InFlight, account.Rotations, account.AnswersLost);
        }
    }

    /// <summary>
    /// Token requests waiting right now on a <see cref="FakeFault.Delay"/> or <see cref="FakeTokenServerOptions.Latency"/>
    /// timer. A request is counted only once its timer is registered with <see cref="FakeTokenServerOptions.Time"/>, so after
    /// seeing it counted a test can advance a fake clock and the request proceeds.
    /// </summary>
    public int DelayedRequests => Volatile.Read(ref _delayed);

    /// <summary>Every request to the token endpoint, whatever its body or answer (including CDN and validation refusals).</summary>
    public int TotalRefreshCalls => Volatile.Read(ref _totalRefreshCalls);

    /// <summary>
    /// Token requests presenting a refresh token that had already been consumed (by a refresh or by
    /// <see cref="RotateExternally"/>), whatever fault answered them. Each request counts at most once: on arrival, or when
    /// its delayed processing finds the token consumed meanwhile. Unknown tokens are not reuse.
    /// </summary>
    public int RefreshTokenReuse => Volatile.Read(ref _reuse);

    /// <summary>
    /// Token requests for an account that arrived while another request of the same account was still being processed
    /// (including one held by <see cref="FakeTokenServerOptions.Latency"/>, a Delay or a Hang fault). The account is the owner
    /// of the presented refresh token, current or consumed.
    /// </summary>
    public int OverlappingRefreshes => Volatile.Read(ref _overlapping);

    /// <summary>
    /// Token requests for an account that arrived (on <see cref="FakeTokenServerOptions.Time"/>) before the deadline of the
    /// last <c>Retry-After</c> / <c>Retry-After-Ms</c> the server sent that account from the token endpoint. A 429 without
    /// the header leaves the earlier deadline in place; usage-endpoint answers never set it.
    /// </summary>
    public int CallsDuringBackoff => Volatile.Read(ref _callsDuringBackoff);

    /// <summary>The highest number of token requests in flight at once, over all accounts.</summary>
    public int MaxConcurrentRefreshes => Volatile.Read(ref _maxConcurrent);

    /// <summary>Every access and refresh token the server ever issued, for scanning logs and files for leaks.</summary>
    public IReadOnlyCollection<string> IssuedTokens => _issued.Keys.ToArray();

    /// <summary>
    /// Zeroes every counter (the peak restarts from the requests in flight now). Tokens, scripts, usage values and
    /// <c>Retry-After</c> deadlines are kept.
    /// </summary>
    public void ResetCounters()
    {
        Interlocked.Exchange(ref _totalRefreshCalls, 0);
        Interlocked.Exchange(ref _reuse, 0);
        Interlocked.Exchange(ref _overlapping, 0);
        Interlocked.Exchange(ref _callsDuringBackoff, 0);
        Interlocked.Exchange(ref _maxConcurrent, Volatile.Read(ref _inFlight));
        foreach (var account in _accounts.Values)
        {
            lock (account.Gate)
            {
                account.RefreshCalls = 0;
                account.UsageCalls = 0;
                account.Reuse = 0;
                account.Overlapping = 0;
                account.CallsDuringBackoff = 0;
                account.Rotations = 0;
                account.AnswersLost = 0;
            }
        }
    }

    /// <summary>Stops the server promptly: requests held by Hang or Delay faults are aborted.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_app is { } app)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping gave up waiting for connections; disposal below closes them anyway.
            }

            await app.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private AccountState GetOrAddAccount(string accountId)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        if (accountId == AllAccounts)
        {
            throw new ArgumentException("\"*\" addresses all accounts and cannot be an account id.", nameof(accountId));
        }

        return _accounts.GetOrAdd(accountId, static id => new AccountState(id));
    }

    private AccountState GetExistingAccount(string accountId)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        if (_accounts.TryGetValue(accountId, out var account))
        {
            lock (account.Gate)
            {
                if (account.HasTokens)
                {
                    return account;
                }
            }
        }

        throw new KeyNotFoundException($"No account '{accountId}'. Call CreateAccount first.");
    }

    private AccountState Target(string accountId) => accountId == AllAccounts ? _global : GetOrAddAccount(accountId);

    /// <summary>Queues faults on the target's token or usage queue: <see cref="Script"/> and <see cref="ScriptUsage"/> differ only in the queue.</summary>
    private void Enqueue<TFault>(string accountId, TFault[] faults, Func<AccountState, Queue<TFault>> queue)
        where TFault : class
    {
        ArgumentNullException.ThrowIfNull(faults);
        if (Array.IndexOf(faults, null) >= 0)
        {
            throw new ArgumentException("A fault is null.", nameof(faults));
        }

        var target = Target(accountId);
        lock (target.Gate)
        {
            var faultQueue = queue(target);
            foreach (var fault in faults)
            {
                faultQueue.Enqueue(fault);
            }
        }
    }

    /// <summary>Issues a new access token (and refresh token when <paramref name="rotateRefresh"/>); caller holds the account's gate.</summary>
    private FakeAccountTokens IssuePair(AccountState account, bool rotateRefresh)
    {
        var access = NewToken("sk-ant-oat01-");
        _accessOwners[access] = account;
        account.AccessToken = access;
        account.AccessRevoked = false;
        account.ExpiresAt = _options.Time.GetUtcNow() + _options.AccessTokenLifetime;
        if (rotateRefresh || account.RefreshToken is null)
        {
            // The old refresh token stays in _refreshOwners: presenting it again is recognised as reuse.
            var refresh = NewToken("sk-ant-ort01-");
            _refreshOwners[refresh] = account;
            account.RefreshToken = refresh;
        }

        return new FakeAccountTokens(access, account.RefreshToken, account.ExpiresAt);
    }

    private string NewToken(string prefix)
    {
        while (true)
        {
            // 66 random bytes → 88 base64url characters, about the length of real Claude tokens.
            var token = prefix + Base64Url(RandomNumberGenerator.GetBytes(66)) + "AA";
            if (_issued.TryAdd(token, 0))
            {
                return token;
            }
        }
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (path.Equals("/v1/oauth/token", StringComparison.Ordinal))
        {
            return HttpMethods.IsPost(context.Request.Method) ? HandleTokenOrCodeAsync(context) : MethodNotAllowed(context, "POST");
        }

        if (path.Equals("/oauth/authorize", StringComparison.Ordinal))
        {
            return HttpMethods.IsGet(context.Request.Method) ? HandleAuthorizeAsync(context) : MethodNotAllowed(context, "GET");
        }

        if (path.Equals("/api/oauth/usage", StringComparison.Ordinal))
        {
            return HttpMethods.IsGet(context.Request.Method) ? HandleUsageAsync(context) : MethodNotAllowed(context, "GET");
        }

        return Responses.WriteJsonAsync(context, StatusCodes.Status404NotFound, Responses.ApiError("not_found_error", "Not found"), CancellationToken.None);
    }

    private async Task HandleTokenOrCodeAsync(HttpContext context)
    {
        if (!await AnsweredAsCodeGrantAsync(context).ConfigureAwait(false)) await HandleTokenAsync(context).ConfigureAwait(false);
    }

    private static Task MethodNotAllowed(HttpContext context, string allow)
    {
        context.Response.Headers.Allow = allow;
        return Responses.WriteJsonAsync(context, StatusCodes.Status405MethodNotAllowed, Responses.ApiError("invalid_request_error", "Method not allowed"), CancellationToken.None);
    }

    /// <summary>Keeps the host away from Ctrl+C handling and console messages: this server lives inside a test process.</summary>
    private sealed class QuietHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
