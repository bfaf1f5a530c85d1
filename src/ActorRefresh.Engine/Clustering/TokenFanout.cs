using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Cluster;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// Where an account writes its token for the fast path. Standalone: straight into the node's read side. Cluster: to the
/// <see cref="ReadSideReplica"/> of every member (the account's own node included), each send in order per member.
/// </summary>
internal abstract class TokenFanout
{
    /// <summary>The fast path of every node may serve <paramref name="token"/> until <paramref name="freshUntil"/>.</summary>
    public abstract void Publish(string accountId, AccessToken token, DateTimeOffset freshUntil, long sequenceNr);

    /// <summary>
    /// Stop serving the token. <paramref name="doubt"/>: a change not yet journaled is coming (outranks a publish at the same
    /// sequence number). <paramref name="fallbackExpiresAt"/>: the expiry of the token the account still holds and may serve
    /// while it cannot refresh (the outage fallback), null when it may serve none.
    /// </summary>
    public abstract void Withdraw(string accountId, long sequenceNr, bool doubt, DateTimeOffset? fallbackExpiresAt);

    /// <summary>
    /// Withdraws with confirmation before the token is replaced upstream. Returns the number of confirmations to wait
    /// for (<see cref="TokenWithdrawConfirmed"/> sent to <paramref name="self"/>); 0 when there is nothing to wait for.
    /// </summary>
    public abstract int WithdrawConfirmed(string accountId, long sequenceNr, IActorRef self, DateTimeOffset? fallbackExpiresAt);

    /// <summary>
    /// A new incarnation recovered at <paramref name="sequenceNr"/>: its predecessor may have withdrawn in doubt there (a
    /// change that was never journaled: its intent write failed, or it stopped before calling). Its messages at that sequence
    /// number then outrank the doubt, or every replica would ignore its publication until the next event.
    /// </summary>
    public virtual void RecoveredAt(long sequenceNr)
    {
    }

    /// <summary>Drops every trace of the account (removed).</summary>
    public abstract void Forget(string accountId, long sequenceNr);

    public static TokenFanout Create(IActorContext context, EngineServices services) =>
        services.Cluster is null ? new Local(services.ReadSide) : new Clustered(context.System, services.ReadSide);

    /// <summary>The cluster fan-out of a node (tests build it without an account).</summary>
    internal static TokenFanout ForCluster(ActorSystem system, AccountReadSide readSide) => new Clustered(system, readSide);

    private static long PublishVersion(long sequenceNr) => sequenceNr * 2;

    private static long DoubtVersion(long sequenceNr) => sequenceNr * 2 + 1;

    // Doubts are withdrawn at 2n+1; once a doubt at n may have been sent (by this incarnation or the one before), the
    // account's publications and plain withdrawals at n go at that level too (a tie is won by the later message), so the
    // doubt about a change that never happened does not hide the unchanged token until the next event.
    private long _doubtAt = -1;

    private long VersionAt(long sequenceNr) => sequenceNr == _doubtAt ? DoubtVersion(sequenceNr) : PublishVersion(sequenceNr);

    private long Doubt(long sequenceNr)
    {
        _doubtAt = sequenceNr;
        return DoubtVersion(sequenceNr);
    }

    private sealed class Local(AccountReadSide readSide) : TokenFanout
    {
        public override void Publish(string accountId, AccessToken token, DateTimeOffset freshUntil, long sequenceNr) =>
            readSide.PublishToken(accountId, token, freshUntil);

        public override void Withdraw(string accountId, long sequenceNr, bool doubt, DateTimeOffset? fallbackExpiresAt) => readSide.WithdrawToken(accountId);

        public override int WithdrawConfirmed(string accountId, long sequenceNr, IActorRef self, DateTimeOffset? fallbackExpiresAt)
        {
            readSide.WithdrawToken(accountId);
            return 0;
        }

        public override void Forget(string accountId, long sequenceNr) => readSide.Forget(accountId);
    }

    private sealed class Clustered(ActorSystem system, AccountReadSide readSide) : TokenFanout
    {
        private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(system);
        private readonly string _self = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();

        public override void Publish(string accountId, AccessToken token, DateTimeOffset freshUntil, long sequenceNr) =>
            Send(new TokenPublished(accountId, token, freshUntil, VersionAt(sequenceNr), _self), ActorRefs.NoSender);

        public override void Withdraw(string accountId, long sequenceNr, bool doubt, DateTimeOffset? fallbackExpiresAt)
        {
            // The own node stops at once; the others as soon as the message arrives.
            readSide.WithdrawToken(accountId);
            Send(new TokenWithdrawn(accountId, doubt ? Doubt(sequenceNr) : VersionAt(sequenceNr), false, FallbackExpiresAt: fallbackExpiresAt), ActorRefs.NoSender);
        }

        public override int WithdrawConfirmed(string accountId, long sequenceNr, IActorRef self, DateTimeOffset? fallbackExpiresAt)
        {
            readSide.WithdrawToken(accountId);
            return Send(new TokenWithdrawn(accountId, Doubt(sequenceNr), true, FallbackExpiresAt: fallbackExpiresAt), self);
        }

        public override void RecoveredAt(long sequenceNr) => _doubtAt = sequenceNr;

        public override void Forget(string accountId, long sequenceNr)
        {
            readSide.Forget(accountId);
            Send(new TokenWithdrawn(accountId, DoubtVersion(sequenceNr), false, Removed: true), ActorRefs.NoSender);
        }

        /// <summary>
        /// Sends to the replica of every member that is up (or leaving) and reachable; returns how many. A member that is
        /// unreachable now has dropped this node's tokens (it sees this node unreachable too, or learns it by gossip) and
        /// gets this node's current tokens from its replica when it is reachable again (<see cref="ReplicaSync"/>).
        /// </summary>
        private int Send(object message, IActorRef? sender)
        {
            var state = _cluster.State;
            var count = 0;
            foreach (var member in state.Members)
            {
                if (member.Status is not (MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Leaving or MemberStatus.Exiting)) continue;
                if (state.Unreachable.Contains(member)) continue;
                system.ActorSelection(new RootActorPath(member.Address) / "user" / ReadSideReplica.Name).Tell(message, sender);
                count++;
            }
            return count;
        }
    }
}
