using System.Threading.RateLimiting;

namespace ActorRefresh.Engine.Limiting;

/// <summary>
/// Node-wide limit on refreshes per provider: at most K in flight and at most R started per second, so
/// many tokens expiring together do not become a self-inflicted 429 storm. A refresh waiting here still
/// counts as Refreshing for its account. Usage checks have their own instance (<see cref="ForUsageChecks"/>), so a
/// slow or hanging usage endpoint never holds up a refresh.
/// </summary>
internal sealed class RefreshLimiter : IAsyncDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly PartitionedRateLimiter<string> _rate;
    private readonly PartitionedRateLimiter<string> _concurrency;

    /// <summary>Creates the refresh limiter from the engine options (<c>MaxConcurrentRefreshes</c>, <c>MaxRefreshesPerSecond</c>, <c>RefreshQueueLimit</c>).</summary>
    public RefreshLimiter(EngineOptions options)
        : this(options.MaxConcurrentRefreshes, options.MaxRefreshesPerSecond, options.RefreshQueueLimit)
    {
    }

    /// <summary>The usage-check limiter from the engine options (<c>MaxConcurrentUsageChecks</c>, <c>MaxUsageChecksPerSecond</c>, <c>UsageCheckQueueLimit</c>).</summary>
    public static RefreshLimiter ForUsageChecks(EngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new RefreshLimiter(options.MaxConcurrentUsageChecks, options.MaxUsageChecksPerSecond, options.UsageCheckQueueLimit);
    }

    /// <summary>A limiter of at most <paramref name="maxConcurrent"/> permits in flight and <paramref name="perSecond"/> started per second per provider.</summary>
    /// <param name="maxConcurrent">Permits held at once per provider (at least 1).</param>
    /// <param name="perSecond">Permits granted per second per provider (at least 1).</param>
    /// <param name="queueLimit">Requests that may wait per provider before further ones are refused (at least 0).</param>
    public RefreshLimiter(int maxConcurrent, int perSecond, int queueLimit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrent, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(perSecond, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(queueLimit);
        _rate = PartitionedRateLimiter.Create<string, string>(provider => RateLimitPartition.GetTokenBucketLimiter(provider, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = queueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        }), StringComparer.OrdinalIgnoreCase);
        _concurrency = PartitionedRateLimiter.Create<string, string>(provider => RateLimitPartition.GetConcurrencyLimiter(provider, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = maxConcurrent,
            QueueLimit = queueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        }), StringComparer.OrdinalIgnoreCase);
        // Rate first: a refresh holds a concurrency permit only once it may start.
        _limiter = PartitionedRateLimiter.CreateChained(_rate, _concurrency);
    }

    /// <summary>Waits for permission to refresh for <paramref name="provider"/>; dispose the lease when the refresh ends.</summary>
    public ValueTask<RateLimitLease> AcquireAsync(string provider, CancellationToken cancellationToken = default) =>
        _limiter.AcquireAsync(provider, 1, cancellationToken);

    /// <summary>Permits of <paramref name="provider"/> free right now (of the concurrency limit), and requests waiting for one.</summary>
    internal (long Available, long Queued) Permits(string provider) =>
        _concurrency.GetStatistics(provider) is { } s ? (s.CurrentAvailablePermits, s.CurrentQueuedCount) : (0, 0);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _limiter.Dispose();
        _rate.Dispose();
        _concurrency.Dispose();
        return ValueTask.CompletedTask;
    }
}
