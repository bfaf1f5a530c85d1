using System.Threading.RateLimiting;

namespace ActorRefresh.Engine.Limiting;

/// <summary>
/// Node-wide limit on refreshes per provider: at most K in flight and at most R started per second, so
/// many tokens expiring together do not become a self-inflicted 429 storm. A refresh waiting here still
/// counts as Refreshing for its account.
/// </summary>
public sealed class RefreshLimiter : IAsyncDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly PartitionedRateLimiter<string> _rate;
    private readonly PartitionedRateLimiter<string> _concurrency;

    /// <summary>Creates the limiter from the engine options.</summary>
    public RefreshLimiter(EngineOptions options)
    {
        _rate = PartitionedRateLimiter.Create<string, string>(provider => RateLimitPartition.GetTokenBucketLimiter(provider, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.MaxRefreshesPerSecond,
            TokensPerPeriod = options.MaxRefreshesPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = options.RefreshQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        }), StringComparer.OrdinalIgnoreCase);
        _concurrency = PartitionedRateLimiter.Create<string, string>(provider => RateLimitPartition.GetConcurrencyLimiter(provider, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = options.MaxConcurrentRefreshes,
            QueueLimit = options.RefreshQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        }), StringComparer.OrdinalIgnoreCase);
        // Rate first: a refresh holds a concurrency permit only once it may start.
        _limiter = PartitionedRateLimiter.CreateChained(_rate, _concurrency);
    }

    /// <summary>Waits for permission to refresh for <paramref name="provider"/>; dispose the lease when the refresh ends.</summary>
    public ValueTask<RateLimitLease> AcquireAsync(string provider, CancellationToken cancellationToken = default) =>
        _limiter.AcquireAsync(provider, 1, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _limiter.Dispose();
        _rate.Dispose();
        _concurrency.Dispose();
        return ValueTask.CompletedTask;
    }
}
