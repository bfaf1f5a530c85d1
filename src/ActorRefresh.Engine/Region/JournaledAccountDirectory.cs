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
/// snapshots every <see cref="SnapshotEvery"/> events. A registration is validated before its id is journaled, so a
/// refused one (an unknown provider, say) leaves nothing behind to wake at the next start. A subclass says how an
/// account's messages are delivered (<see cref="Deliver"/>), what happens once the ids are recovered, and handles every
/// other message after this constructor has registered the directory's own (so Register and Remove match here first).
/// </summary>
internal abstract class JournaledAccountDirectory : ReceivePersistentActor
{
    /// <summary>Events between two snapshots of the directory.</summary>
    private const int SnapshotEvery = 1000;

    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);

    protected JournaledAccountDirectory(EngineServices services)
    {
        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is DirectorySnapshot s) _ids.UnionWith(s.AccountIds);
        });
        Recover<DirectoryEntryAdded>(e => _ids.Add(e.AccountId));
        Recover<DirectoryEntryRemoved>(e => _ids.Remove(e.AccountId));
        Recover<RecoveryCompleted>(_ => OnDirectoryRecovered());

        Command<ListAccounts>(_ => Sender.Tell(new AccountIds(_ids.Order(StringComparer.Ordinal).ToList())));
        Command<CountAccounts>(m => Sender.Tell(new AccountCount(_ids.Count, _ids.Contains(m.AccountId))));
        Command<Register>(registration =>
        {
            var now = services.Time.GetUtcNow();
            var m = registration with { Credentials = AccountCredentialsRules.WithoutExpiredAccessToken(registration.Credentials, now) };
            // The account checks the same rules; checked here first, a refusal journals nothing.
            if (AccountCredentialsRules.Problem(m.Credentials, services.Providers, now) is { } problem)
            {
                Sender.Tell(new CommandRefused(m.AccountId, problem));
                return;
            }
            if (_ids.Contains(m.AccountId))
            {
                Deliver(m.AccountId, m, Sender);
                return;
            }
            var sender = Sender;
            PersistRegistration(new DirectoryEntryAdded(m.AccountId), e =>
            {
                _ids.Add(e.AccountId);
                MaybeSnapshot();
                Deliver(m.AccountId, m, sender);
            });
        });
        Command<Remove>(m =>
        {
            if (!_ids.Contains(m.AccountId))
            {
                Sender.Tell(new NotRegistered(m.AccountId));
                return;
            }
            Deliver(m.AccountId, m, Sender);
            Persist(new DirectoryEntryRemoved(m.AccountId), e =>
            {
                _ids.Remove(e.AccountId);
                MaybeSnapshot();
            });
        });
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => Log.Warning("Account directory snapshot failed: {ErrorType}", f.Cause.GetType().Name));
    }

    public sealed override string PersistenceId => AccountRegion.DirectoryPersistenceId;

    /// <summary>The registered ids, in no order.</summary>
    protected IReadOnlyCollection<string> Ids => _ids;

    protected bool IsRegistered(string accountId) => _ids.Contains(accountId);

    /// <summary>Delivers a message for the account on behalf of <paramref name="sender"/>.</summary>
    protected abstract void Deliver(string accountId, object message, IActorRef sender);

    /// <summary>Called once the ids are recovered, to wake the registered accounts.</summary>
    protected abstract void OnDirectoryRecovered();

    /// <summary>Journals a registration; Persist unless a subclass batches them.</summary>
    protected virtual void PersistRegistration(DirectoryEntryAdded entry, Action<DirectoryEntryAdded> handler) => Persist(entry, handler);

    private void MaybeSnapshot()
    {
        if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(new DirectorySnapshot(_ids.ToList()));
    }
}
