using ActorRefresh.Engine.Accounts;
using Akka.Cluster.Sharding;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// Routes every <see cref="IAccountMessage"/> to the entity named by its account id, in one of a fixed number of shards
/// (the shard of an id is a stable hash of it: changing the shard count moves every account, so it never changes).
/// </summary>
internal sealed class AccountMessageExtractor(int shardCount) : HashCodeMessageExtractor(shardCount)
{
    public override string? EntityId(object message) => message switch
    {
        IAccountMessage m => m.AccountId,
        _ => null,
    };
}
