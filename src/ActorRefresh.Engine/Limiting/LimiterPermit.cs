using System.Threading.RateLimiting;

namespace ActorRefresh.Engine.Limiting;

/// <summary>
/// One permit of a <see cref="RefreshLimiter"/>, owned by the actor that asked for it from the moment it asks. The lease
/// is released exactly once whatever happens to the owner: <see cref="Dispose"/> releases a held lease and cancels a
/// queued request, and a lease the limiter grants after that (its answer on the way, or waiting in the mailbox of an
/// actor that stopped) is released by the continuation that receives it. So a stop at any point (hand-off,
/// passivation, restart after a journal failure) never takes a permit away from the node.
/// </summary>
/// <remarks>
/// <see cref="Dispose"/> runs on the actor's thread, the grant on a thread-pool thread: both go through
/// <see cref="Interlocked"/> so that exactly one of them disposes the lease.
/// </remarks>
internal sealed class LimiterPermit : IDisposable
{
    // Not disposed on purpose: it holds no timer, and the limiter may still be registering on its token.
    private readonly CancellationTokenSource _cancel = new();
    private RateLimitLease? _lease;
    private int _released;

    private LimiterPermit() { }

    /// <summary>Completes with true once the permit is held; false when the limiter refused (queue full, disposed) or the owner let go first.</summary>
    public Task<bool> Granted { get; private set; } = null!;

    /// <summary>Asks <paramref name="limiter"/> for a permit of <paramref name="provider"/>; the caller owns the result and must dispose it.</summary>
    public static LimiterPermit Request(RefreshLimiter limiter, string provider)
    {
        var permit = new LimiterPermit();
        permit.Granted = permit.AcquireAsync(limiter, provider);
        return permit;
    }

    private async Task<bool> AcquireAsync(RefreshLimiter limiter, string provider)
    {
        RateLimitLease lease;
        try
        {
            lease = await limiter.AcquireAsync(provider, _cancel.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            return false; // let go while queued, or the node is shutting down
        }
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            return false;
        }
        Interlocked.Exchange(ref _lease, lease);
        if (Volatile.Read(ref _released) == 0) return true;
        // The owner let go while the grant was on its way: nobody else will release this lease.
        ReleaseLease();
        return false;
    }

    /// <summary>Releases the permit (or cancels the request); safe to call more than once and from a stopped actor's PostStop.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        _cancel.Cancel();
        ReleaseLease();
    }

    private void ReleaseLease() => Interlocked.Exchange(ref _lease, null)?.Dispose();
}
