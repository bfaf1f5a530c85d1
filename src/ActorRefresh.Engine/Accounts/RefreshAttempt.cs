using ActorRefresh.Engine.Limiting;
using Akka.Actor;

namespace ActorRefresh.Engine.Accounts;

/// <summary>The step a refresh attempt is at (docs/design.md, "Mechanics").</summary>
internal enum RefreshStep
{
    /// <summary>Cluster mode: waiting for every node's replica to confirm it dropped the old token.</summary>
    Withdrawing,

    /// <summary>Waiting for a permit of the provider's refresh limiter.</summary>
    WaitingForPermit,

    /// <summary>Re-reading the account's credentials file for a pair another program wrote.</summary>
    ReadingFile,

    /// <summary>Cluster mode: waiting until this node hears a majority of the cluster again.</summary>
    ConfirmingOwnership,

    /// <summary>Journaling the intent (<see cref="RefreshStarted"/>).</summary>
    JournalingIntent,

    /// <summary>The token endpoint call is out.</summary>
    Calling,

    /// <summary>Journaling the outcome.</summary>
    JournalingOutcome,
}

/// <summary>
/// One refresh of an account, from its start to its journaled outcome: the callers it answers, the limiter permit it
/// holds, the cancellation of its call, and the step it is at. Every message of the attempt carries its <see cref="Id"/>;
/// one whose id is not the running attempt's is late and is dropped. In memory only: the journal holds the intent and
/// the outcome.
/// </summary>
internal sealed class RefreshAttempt(int id)
{
    private LimiterPermit? _permit;
    private CancellationTokenSource? _call;

    /// <summary>The attempt's number, unique within its actor's incarnation.</summary>
    public int Id { get; } = id;

    /// <summary>Where the attempt is.</summary>
    public RefreshStep Step { get; private set; } = RefreshStep.WaitingForPermit;

    /// <summary>Callers waiting for the outcome.</summary>
    public List<IActorRef> Waiters { get; } = [];

    /// <summary>Cluster mode, <see cref="RefreshStep.Withdrawing"/>: replicas that have not confirmed yet.</summary>
    public int PendingConfirmations { get; private set; }

    /// <summary>Whether the refresh token was in doubt before this attempt (an interrupted refresh, an answer lost earlier).</summary>
    public bool InterruptedBefore { get; set; }

    /// <summary>When the call went out, or when the attempt closed without one (for the refresh metric's span).</summary>
    public DateTimeOffset CallStartedAt { get; set; }

    /// <summary>True once the token endpoint was called in this attempt (its cancellation exists while the call is out).</summary>
    public bool CallStarted => _call is not null;

    /// <summary>Waits for <paramref name="confirmations"/> replicas to drop the old token.</summary>
    public void AwaitConfirmations(int confirmations)
    {
        PendingConfirmations = confirmations;
        Step = RefreshStep.Withdrawing;
    }

    /// <summary>Counts one confirmation; true when it was the last one awaited.</summary>
    public bool Confirmed() => PendingConfirmations > 0 && --PendingConfirmations == 0;

    /// <summary>Stops waiting for confirmations (timed out, or the attempt is abandoned); how many were still missing.</summary>
    public int StopAwaitingConfirmations()
    {
        var missing = PendingConfirmations;
        PendingConfirmations = 0;
        return missing;
    }

    /// <summary>Asks <paramref name="limiter"/> for a permit; owned by the attempt from now on (see <see cref="Release"/>).</summary>
    public LimiterPermit RequestPermit(RefreshLimiter limiter, string provider)
    {
        _permit?.Dispose();
        Step = RefreshStep.WaitingForPermit;
        return _permit = LimiterPermit.Request(limiter, provider);
    }

    /// <summary>True when <paramref name="permit"/> is the one this attempt asked for last.</summary>
    public bool Holds(LimiterPermit permit) => ReferenceEquals(permit, _permit);

    /// <summary>Moves to <paramref name="step"/> (one without resources of its own).</summary>
    public void MoveTo(RefreshStep step) => Step = step;

    /// <summary>The call goes out now; its cancellation is the attempt's until <see cref="Release"/>.</summary>
    public CancellationToken StartCall(DateTimeOffset now)
    {
        _call = new CancellationTokenSource();
        CallStartedAt = now;
        Step = RefreshStep.Calling;
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
