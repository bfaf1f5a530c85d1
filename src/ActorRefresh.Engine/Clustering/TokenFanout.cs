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

    /// <summary>Stop serving the token. <paramref name="doubt"/>: a change not yet journaled is coming (outranks a publish at the same sequence number).</summary>
    public abstract void Withdraw(string accountId, long sequenceNr, bool doubt);

    /// <summary>
    /// Withdraws with confirmation before the token is replaced upstream. Returns the number of confirmations to wait
    /// for (<see cref="TokenWithdrawConfirmed"/> sent to <paramref name="self"/>); 0 when there is nothing to wait for.
    /// </summary>
    public abstract int WithdrawConfirmed(string accountId, long sequenceNr, IActorRef self);

    /// <summary>Drops every trace of the account (removed).</summary>
    public abstract void Forget(string accountId, long sequenceNr);

    public static TokenFanout Create(IActorContext context, EngineServices services) =>
        services.Cluster is null ? new Local(services.ReadSide) : new Clustered(context.System, services.ReadSide);

    /// <summary>The cluster fan-out of a node (tests build it without an account).</summary>
    internal static TokenFanout ForCluster(ActorSystem system, AccountReadSide readSide) => new Clustered(system, readSide);

    private static long PublishVersion(long sequenceNr) => sequenceNr * 2;

    private static long DoubtVersion(long sequenceNr) => sequenceNr * 2 + 1;

    private sealed class Local(AccountReadSide readSide) : TokenFanout
    {
        public override void Publish(string accountId, AccessToken token, DateTimeOffset freshUntil, long sequenceNr) =>
            readSide.PublishToken(accountId, token, freshUntil);

        public override void Withdraw(string accountId, long sequenceNr, bool doubt) => readSide.WithdrawToken(accountId);

        public override int WithdrawConfirmed(string accountId, long sequenceNr, IActorRef self)
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
            Send(new TokenPublished(accountId, token, freshUntil, PublishVersion(sequenceNr), _self), ActorRefs.NoSender);

        public override void Withdraw(string accountId, long sequenceNr, bool doubt)
        {
            // The own node stops at once; the others as soon as the message arrives.
            readSide.WithdrawToken(accountId);
            Send(new TokenWithdrawn(accountId, doubt ? DoubtVersion(sequenceNr) : PublishVersion(sequenceNr), false), ActorRefs.NoSender);
        }

        public override int WithdrawConfirmed(string accountId, long sequenceNr, IActorRef self)
        {
            readSide.WithdrawToken(accountId);
            return Send(new TokenWithdrawn(accountId, DoubtVersion(sequenceNr), true), self);
        }

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
