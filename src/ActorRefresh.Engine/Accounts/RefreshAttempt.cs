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
/// holds, the cancellation of its call, and the step it is at. Every message of the attempt carries its id; one whose id
/// is not the running attempt's is late and is dropped. In memory only: the journal holds the intent and the outcome.
/// </summary>
internal sealed class RefreshAttempt(int id) : PermittedCall(id)
{
    /// <summary>Where the attempt is.</summary>
    public RefreshStep Step { get; private set; } = RefreshStep.WaitingForPermit;

    /// <summary>Callers waiting for the outcome.</summary>
    public List<IActorRef> Waiters { get; } = [];

    /// <summary>Cluster mode, <see cref="RefreshStep.Withdrawing"/>: replicas that have not confirmed yet.</summary>
    public int PendingConfirmations { get; private set; }

    /// <summary>Whether the refresh token was in doubt before this attempt (an interrupted refresh, an answer lost earlier).</summary>
    public bool InterruptedBefore { get; set; }

    /// <summary>Waits for <paramref name="confirmations"/> replicas to drop the old token.</summary>
    public void AwaitConfirmations(int confirmations)
    {
        PendingConfirmations = confirmations;
        Step = RefreshStep.Withdrawing;
    }

    /// <summary>Counts one confirmation; true when it was the last one awaited.</summary>
    public bool Confirmed() => PendingConfirmations > 0 && --PendingConfirmations == 0;

    /// <summary>Stops waiting for confirmations (timed out); how many were still missing.</summary>
    public int StopAwaitingConfirmations()
    {
        var missing = PendingConfirmations;
        PendingConfirmations = 0;
        return missing;
    }

    /// <inheritdoc />
    public override LimiterPermit RequestPermit(RefreshLimiter limiter, string provider)
    {
        Step = RefreshStep.WaitingForPermit;
        return base.RequestPermit(limiter, provider);
    }

    /// <inheritdoc />
    public override CancellationToken StartCall(DateTimeOffset now)
    {
        Step = RefreshStep.Calling;
        return base.StartCall(now);
    }

    /// <summary>Moves to <paramref name="step"/> (one without resources of its own).</summary>
    public void MoveTo(RefreshStep step) => Step = step;
}
