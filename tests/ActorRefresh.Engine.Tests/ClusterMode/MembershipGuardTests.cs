using ActorRefresh.Engine.Clustering;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>The rule of <see cref="MembershipGuard"/>: this node and the peers it hears now are a majority of itself and the peers it monitors.</summary>
public sealed class MembershipGuardTests
{
    [Theory]
    [InlineData(0, 0, true)]   // alone: nobody can have replaced it
    [InlineData(1, 1, true)]
    [InlineData(1, 0, false)]  // two nodes, the other one unheard: it may be the survivor
    [InlineData(2, 2, true)]
    [InlineData(2, 1, true)]   // three nodes, one lost: the majority side
    [InlineData(2, 0, false)]  // three nodes, frozen or cut off: hears nobody
    [InlineData(4, 2, true)]
    [InlineData(4, 1, false)]
    [InlineData(9, 4, false)]
    [InlineData(9, 5, true)]
    public void A_node_confirms_ownership_only_with_a_majority_heard(int monitored, int available, bool confirms) =>
        Assert.Equal(confirms, MembershipGuard.Confirms(monitored, available));
}
