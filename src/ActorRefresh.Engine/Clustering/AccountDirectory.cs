using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// The cluster's list of registered account ids: a cluster singleton (on the oldest node) with the same journaled
/// directory as the standalone region, so listing works from every node. Register and Remove pass through it (it
/// journals the id, then forwards to the shard region); every other message goes to the shard region directly. After
/// it starts (first start, full cluster restart, failover of the singleton) it wakes every registered account, in
/// addition to sharding's remembered entities, so no idle account's timer can stay asleep.
/// </summary>
internal sealed class AccountDirectory : ReceivePersistentActor
{
    public const string Name = "account-directory";

    private readonly IActorRef _region;
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public AccountDirectory(IActorRef region)
    {
        _region = region;

        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is DirectorySnapshot s) _ids.UnionWith(s.AccountIds);
        });
        Recover<DirectoryEntryAdded>(e => _ids.Add(e.AccountId));
        Recover<DirectoryEntryRemoved>(e => _ids.Remove(e.AccountId));
        Recover<RecoveryCompleted>(_ =>
        {
            foreach (var id in _ids) _region.Tell(new ShardRegion.StartEntity(id));
            _log.Info("Account directory holds {0} registered accounts; woke them.", _ids.Count);
        });

        Command<ListAccounts>(_ => Sender.Tell(new AccountIds(_ids.Order(StringComparer.Ordinal).ToList())));
        Command<Register>(m =>
        {
            if (!AccountIdRules.IsValid(m.AccountId))
            {
                Sender.Tell(new CommandRefused(m.AccountId, AccountIdRules.Description));
                return;
            }
            if (_ids.Contains(m.AccountId))
            {
                _region.Forward(m);
                return;
            }
            var sender = Sender;
            Persist(new DirectoryEntryAdded(m.AccountId), e =>
            {
                _ids.Add(e.AccountId);
                MaybeSnapshot();
                _region.Tell(m, sender);
            });
        });
        Command<Remove>(m =>
        {
            if (!_ids.Contains(m.AccountId))
            {
                Sender.Tell(new NotRegistered(m.AccountId));
                return;
            }
            _region.Forward(m);
            Persist(new DirectoryEntryRemoved(m.AccountId), e =>
            {
                _ids.Remove(e.AccountId);
                MaybeSnapshot();
            });
        });
        Command<IAccountMessage>(m => _region.Forward(m));
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => _log.Warning("Account directory snapshot failed: {0}", f.Cause.GetType().Name));
    }

    public override string PersistenceId => AccountRegion.DirectoryPersistenceId;

    public static Props Props(IActorRef region) => Akka.Actor.Props.Create(() => new AccountDirectory(region));

    private void MaybeSnapshot()
    {
        if (LastSequenceNr % 1000 == 0) SaveSnapshot(new DirectorySnapshot(_ids.ToList()));
    }
}
