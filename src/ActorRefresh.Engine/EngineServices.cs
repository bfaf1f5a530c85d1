using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Limiting;
using ActorRefresh.Engine.Observability;
using ActorRefresh.Engine.ReadSide;

namespace ActorRefresh.Engine;

/// <summary>
/// What the account actors of one node share: provider profiles, the token endpoint client, the backoff
/// policy, the refresh limiter, the read side, the clock and the metrics. Created once per actor system.
/// </summary>
internal sealed class EngineServices : IAsyncDisposable
{
    /// <summary>Bundles the engine's collaborators.</summary>
    /// <param name="providers">Provider profiles by name.</param>
    /// <param name="tokenClient">Client of the providers' token endpoints.</param>
    /// <param name="backoffOptions">Backoff settings.</param>
    /// <param name="options">Engine settings.</param>
    /// <param name="time">The clock ("now") of the engine; use a scheduler-backed one under virtual time.</param>
    /// <param name="random">Source of jitter in [0,1); null for <see cref="Random.Shared"/>.</param>
    /// <param name="usageClient">Client of the providers' usage endpoints; null disables usage checks.</param>
    public EngineServices(
        IProviderRegistry providers,
        ITokenEndpointClient tokenClient,
        BackoffOptions backoffOptions,
        EngineOptions options,
        TimeProvider time,
        Func<double>? random = null,
        IUsageClient? usageClient = null)
    {
        UsageClient = usageClient;
        Providers = providers;
        TokenClient = tokenClient;
        BackoffOptions = backoffOptions;
        Options = options;
        Time = time;
        Random = random ?? System.Random.Shared.NextDouble;
        Backoff = new BackoffPolicy(backoffOptions, Random);
        ReadSide = new AccountReadSide(time);
        Limiter = new RefreshLimiter(options);
        UsageLimiter = RefreshLimiter.ForUsageChecks(options);
        Metrics = new EngineMetrics(ReadSide, options.PerAccountMetrics);
    }

    /// <summary>Provider profiles by name.</summary>
    public IProviderRegistry Providers { get; }

    /// <summary>Client of the providers' token endpoints.</summary>
    public ITokenEndpointClient TokenClient { get; }

    /// <summary>Client of the providers' usage endpoints; null when usage checks are off.</summary>
    public IUsageClient? UsageClient { get; }

    /// <summary>Backoff settings.</summary>
    public BackoffOptions BackoffOptions { get; }

    /// <summary>The backoff policy built from <see cref="BackoffOptions"/>.</summary>
    public BackoffPolicy Backoff { get; }

    /// <summary>Engine settings.</summary>
    public EngineOptions Options { get; }

    /// <summary>The engine's clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>Jitter source in [0,1).</summary>
    public Func<double> Random { get; }

    /// <summary>The node's read side (fresh tokens and statuses).</summary>
    public AccountReadSide ReadSide { get; }

    /// <summary>The node's refresh limiter.</summary>
    public RefreshLimiter Limiter { get; }

    /// <summary>The node's usage-check limiter (its own permits: a hanging usage endpoint never starves refreshes).</summary>
    public RefreshLimiter UsageLimiter { get; }

    /// <summary>Cluster mode settings; null when the engine runs standalone.</summary>
    public Clustering.ClusterOptions? Cluster { get; init; }

    /// <summary>
    /// True when a recovered open refresh intent is waited out until its deadline (the journal fence). Only cluster mode
    /// can have a previous incarnation still alive (a paused or cut-off node); a standalone process recovering an intent
    /// outlived the process that wrote it, so waiting would only delay. Settable for engine tests.
    /// </summary>
    internal bool WaitsOutRecoveredIntents
    {
        get => _waitsOutRecoveredIntents ?? Cluster is not null;
        set => _waitsOutRecoveredIntents = value;
    }

    private bool? _waitsOutRecoveredIntents;

    /// <summary>
    /// Replaces the check an account makes before it spends a refresh token (cluster mode: <see cref="Clustering.MembershipGuard"/>);
    /// null uses that one in cluster mode and none standalone. Settable for engine tests.
    /// </summary>
    internal Func<bool>? OwnershipCheck { get; set; }

    /// <summary>
    /// How long a caller waits for an account's answer: <see cref="EngineOptions.AskTimeout"/> when set, else the sum of
    /// what an answer may legitimately wait for — the journal's recovery timeout, the longest provider request timeout
    /// plus <see cref="EngineOptions.RequestTimeoutGrace"/>, and in cluster mode the time a shard takes to move after its
    /// node is lost (<see cref="EngineHocon.ShardMoveTime"/>).
    /// </summary>
    public TimeSpan AskTimeout => Options.AskTimeout ?? DerivedAskTimeout(Options, Providers, Cluster);

    /// <summary>The derived ask timeout (see <see cref="AskTimeout"/>).</summary>
    internal static TimeSpan DerivedAskTimeout(EngineOptions options, IProviderRegistry providers, Clustering.ClusterOptions? cluster)
    {
        var request = providers.Names
            .Select(name => providers.TryGet(name, out var profile) ? profile.RequestTimeout : TimeSpan.Zero)
            .DefaultIfEmpty(TimeSpan.Zero)
            .Max();
        var timeout = EngineHocon.RecoveryTimeout + request + options.RequestTimeoutGrace;
        return cluster is null ? timeout : timeout + EngineHocon.ShardMoveTime(cluster);
    }

    /// <summary>The engine's meters.</summary>
    public EngineMetrics Metrics { get; }

    /// <summary>Time a clean shutdown allows, beyond the longest wait for an answer, to journal the outcome and answer the callers.</summary>
    public static readonly TimeSpan DrainMargin = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a clean shutdown waits for the refreshes in flight: the longest a refresh can wait for its answer
    /// (the largest <c>RequestTimeout</c> of the configured providers plus <see cref="EngineOptions.RequestTimeoutGrace"/>)
    /// plus <see cref="DrainMargin"/>. The shutdown phases that wait for refreshes are given this timeout, so a slow but
    /// answering provider is never cut off by a stop (30 s + 5 s + 5 s = 40 s with the defaults).
    /// </summary>
    public TimeSpan RefreshDrainTimeout => DrainTimeoutOf(Providers, Options);

    /// <summary><see cref="RefreshDrainTimeout"/> for these providers and settings.</summary>
    public static TimeSpan DrainTimeoutOf(IProviderRegistry providers, EngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(providers);
        ArgumentNullException.ThrowIfNull(options);
        var longest = TimeSpan.Zero;
        foreach (var name in providers.Names)
            if (providers.TryGet(name, out var profile) && profile.RequestTimeout > longest) longest = profile.RequestTimeout;
        return longest + options.RequestTimeoutGrace + DrainMargin;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Limiter.DisposeAsync();
        await UsageLimiter.DisposeAsync();
        Metrics.Dispose();
    }
}
