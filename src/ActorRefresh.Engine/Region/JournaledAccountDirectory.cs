using ActorRefresh.Engine.Accounts;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Region;

/// <summary>
/// The journaled directory of registered account ids that the standalone region and the cluster's directory singleton
/// both keep (one persistence id, <see cref="AccountRegion.DirectoryPersistenceId"/>, so either recovers the other's
/// data). It recovers the ids, lists them, journals Register and Remove before routing them to the account, and
/// snapshots every <see cref="SnapshotEvery"/> events. A subclass says where an account's messages go
/// (<see cref="Route"/>), what happens once the ids are recovered, and handles every other message after this
/// constructor has registered the directory's own (so Register and Remove match here first).
/// </summary>
internal abstract class JournaledAccountDirectory : ReceivePersistentActor
{
    /// <summary>Events between two snapshots of the directory.</summary>
    private const int SnapshotEvery = 1000;

    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);

    protected JournaledAccountDirectory()
    {
        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is DirectorySnapshot s) _ids.UnionWith(s.AccountIds);
        });
        Recover<DirectoryEntryAdded>(e => _ids.Add(e.AccountId));
        Recover<DirectoryEntryRemoved>(e => _ids.Remove(e.AccountId));
        Recover<RecoveryCompleted>(_ => OnDirectoryRecovered());

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
                Route(m.AccountId).Forward(m);
                return;
            }
            var sender = Sender;
            PersistRegistration(new DirectoryEntryAdded(m.AccountId), e =>
            {
                _ids.Add(e.AccountId);
                MaybeSnapshot();
                Route(m.AccountId).Tell(m, sender);
            });
        });
        Command<Remove>(m =>
        {
            if (!_ids.Contains(m.AccountId))
            {
                Sender.Tell(new NotRegistered(m.AccountId));
                return;
            }
            Route(m.AccountId).Forward(m);
            Persist(new DirectoryEntryRemoved(m.AccountId), e =>
            {
                _ids.Remove(e.AccountId);
                MaybeSnapshot();
            });
        });
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => Log.Warning("Account directory snapshot failed: {0}", f.Cause.GetType().Name));
    }

    public sealed override string PersistenceId => AccountRegion.DirectoryPersistenceId;

    /// <summary>The registered ids, in no order.</summary>
    protected IReadOnlyCollection<string> Ids => _ids;

    protected bool IsRegistered(string accountId) => _ids.Contains(accountId);

    /// <summary>Where messages for the account go.</summary>
    protected abstract IActorRef Route(string accountId);

    /// <summary>Called once the ids are recovered, to wake the registered accounts.</summary>
    protected abstract void OnDirectoryRecovered();

    /// <summary>Journals a registration; Persist unless a subclass batches them.</summary>
    protected virtual void PersistRegistration(DirectoryEntryAdded entry, Action<DirectoryEntryAdded> handler) => Persist(entry, handler);

    private void MaybeSnapshot()
    {
        if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(new DirectorySnapshot(_ids.ToList()));
    }
}
