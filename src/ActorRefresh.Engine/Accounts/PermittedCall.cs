using ActorRefresh.Engine.Limiting;

namespace ActorRefresh.Engine.Accounts;

/// <summary>
/// An operation of an account that takes a limiter permit and makes one cancellable call: a refresh attempt or a usage
/// check. Its messages carry its <see cref="Id"/>, so one that arrives after the operation ended is recognised as late.
/// Everything it holds is released by <see cref="Release"/>, whatever point it reached (the actor's PostStop calls it).
/// </summary>
internal abstract class PermittedCall(int id)
{
    private LimiterPermit? _permit;
    private CancellationTokenSource? _call;

    /// <summary>The operation's number, unique within its actor's incarnation.</summary>
    public int Id { get; } = id;

    /// <summary>When the call went out; null until it does.</summary>
    public DateTimeOffset? CallStartedAt { get; private set; }

    /// <summary>True while the call is out (from <see cref="StartCall"/> to <see cref="Release"/>).</summary>
    public bool CallStarted => _call is not null;

    /// <summary>Asks <paramref name="limiter"/> for a permit, owned by this operation from now on.</summary>
    public virtual LimiterPermit RequestPermit(RefreshLimiter limiter, string provider)
    {
        _permit?.Dispose();
        return _permit = LimiterPermit.Request(limiter, provider);
    }

    /// <summary>True when <paramref name="permit"/> is the one this operation asked for last.</summary>
    public bool Holds(LimiterPermit permit) => ReferenceEquals(permit, _permit);

    /// <summary>The call goes out now; its cancellation belongs to the operation until <see cref="Release"/>.</summary>
    public virtual CancellationToken StartCall(DateTimeOffset now)
    {
        _call = new CancellationTokenSource();
        CallStartedAt = now;
        return _call.Token;
    }

    /// <summary>Gives the call up (its answer, if it still comes, is late).</summary>
    public void CancelCall() => _call?.Cancel();

    /// <summary>Releases the permit (whether queued, granted or held) and the call's cancellation; safe to call again.</summary>
    public void Release()
    {
        _permit?.Dispose();
        _permit = null;
        _call?.Dispose();
        _call = null;
    }
}
