using Akka.Actor;
using Akka.Cluster;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// Whether this node may still act as the owner of its accounts: it is not down, and its failure detector, asked now (not
/// the last gossiped reachability, which is stale right after a pause), hears a majority of the members it monitors. A node
/// that was frozen (SIGSTOP, a GC pause, a VM freeze) or cut off for longer than the failure detector tolerates has heard
/// nobody meanwhile, so on waking it fails this check before it can start a refresh; by then the others may have downed it
/// and moved its accounts. A refresh waits while the check fails (a node on the minority side is downed by the split-brain
/// resolver and stops; a short hiccup ends with the next heartbeat).
/// </summary>
internal static class MembershipGuard
{
    /// <summary>
    /// The rule: this node and the peers it hears now are more than half of itself and the peers it monitors. A node alone
    /// (nothing monitored) passes: nobody can have replaced it.
    /// </summary>
    public static bool Confirms(int monitoredPeers, int availablePeers) => 2 * (1 + availablePeers) > 1 + monitoredPeers;

    /// <summary>The check for the node of <paramref name="system"/>.</summary>
    public static Func<bool> For(ActorSystem system)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        return () =>
        {
            var self = cluster.SelfMember;
            if (self.Status is MemberStatus.Down or MemberStatus.Removed) return false;
            var detector = cluster.FailureDetector;
            int monitored = 0, available = 0;
            foreach (var member in cluster.State.Members)
            {
                if (member.Address.Equals(self.Address) || !detector.IsMonitoring(member.Address)) continue;
                monitored++;
                if (detector.IsAvailable(member.Address)) available++;
            }
            return Confirms(monitored, available);
        };
    }
}
