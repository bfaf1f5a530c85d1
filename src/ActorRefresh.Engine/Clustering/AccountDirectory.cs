using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// The cluster's list of registered account ids: a cluster singleton (on the oldest node) with the same journaled
/// directory as the standalone region, so listing works from every node. Register and Remove pass through it (it
/// journals the id, then forwards to the shard region); every other message goes to the shard region directly. After
/// it starts (first start, full cluster restart, failover of the singleton) it wakes every registered account, in
/// addition to sharding's remembered entities, so no idle account's timer can stay asleep.
/// </summary>
internal sealed class AccountDirectory : JournaledAccountDirectory
{
    public const string Name = "account-directory";

    private readonly IActorRef _region;

    public AccountDirectory(IActorRef region, EngineServices services) : base(services)
    {
        _region = region;
        Command<IAccountMessage>(m => _region.Forward(m));
    }

    public static Props Props(IActorRef region, EngineServices services) => Akka.Actor.Props.Create(() => new AccountDirectory(region, services));

    protected override void Deliver(string accountId, object message, IActorRef sender) => _region.Tell(message, sender);

    protected override void OnDirectoryRecovered()
    {
        foreach (var id in Ids) _region.Tell(new ShardRegion.StartEntity(id));
        Log.Info("Account directory holds {AccountCount} registered accounts; woke them.", Ids.Count);
    }
}
