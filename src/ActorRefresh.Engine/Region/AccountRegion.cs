using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Persistence;
using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using Akka.Persistence;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Region;

/// <summary>Directory entry: the account id is registered on this node.</summary>
internal sealed record DirectoryEntryAdded(string AccountId) : IAccountPersisted;

/// <summary>Directory entry: the account id was removed.</summary>
internal sealed record DirectoryEntryRemoved(string AccountId) : IAccountPersisted;

/// <summary>Snapshot of the directory.</summary>
internal sealed record DirectorySnapshot(IReadOnlyList<string> AccountIds) : IAccountPersisted;

/// <summary>
/// The standalone region: the parent of every account actor on the node. It creates an account on the
/// first message for its id, each under a backoff supervisor (a failing account — journal down, bug — is
/// restarted with exponential backoff and recovers from its journal), and keeps a journaled directory of
/// registered ids so that after a restart every account wakes up and its timers run again (idle accounts
/// still refresh before expiry). A removed account asks to be stopped once its removal is journaled; the region then
/// stops it and its supervisor for good, holding any message for that id until they are gone (as a shard does during
/// a passivation). A cluster shard region takes its place in cluster mode with the same messages.
/// </summary>
internal sealed class AccountRegion : JournaledAccountDirectory
{
    /// <summary>Persistence id of the directory.</summary>
    public const string DirectoryPersistenceId = "account-directory";

    private readonly EngineServices _services;

    // Accounts being stopped after their removal, with the messages that arrived for their id meanwhile.
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _stopping = new(StringComparer.Ordinal);

    public AccountRegion(EngineServices services) : base(services)
    {
        _services = services;

        // From a removed account, passed up by its backoff supervisor (the sender): stop both for good, unless the id
        // was registered again meanwhile (then the account goes on with the new registration).
        Command<Clustering.StopAccount>(_ =>
        {
            var id = Sender.Path.Name;
            if (IsRegistered(id) || _stopping.ContainsKey(id) || !Context.Child(id).Equals(Sender)) return;
            _stopping[id] = [];
            Context.Watch(Sender);
            // The supervisor's final-stop message: it forwards it, and stops itself instead of restarting the account.
            Sender.Tell(Clustering.StopAccount.Instance);
        });
        Command<Terminated>(t =>
        {
            if (!_stopping.Remove(t.ActorRef.Path.Name, out var held)) return;
            foreach (var (message, sender) in held) Deliver(t.ActorRef.Path.Name, message, sender);
        });

        Command<DrainAll>(_ =>
        {
            var timeout = services.RefreshDrainTimeout;
            // An account that does not answer (stopped, restarting) has nothing in flight to wait for.
            var drains = Context.GetChildren()
                .Select(child => child.Ask<Drained>(new Drain(child.Path.Name), timeout).ContinueWith(_ => Drained.Instance, TaskScheduler.Default))
                .ToList();
            Task.WhenAll(drains).PipeTo(Sender, success: () => Drained.Instance);
        });
        Command<IAccountMessage>(m =>
        {
            if (!AccountIdRules.IsValid(m.AccountId))
            {
                Sender.Tell(new CommandRefused(m.AccountId, AccountIdRules.Description));
                return;
            }
            if (!IsRegistered(m.AccountId))
            {
                Sender.Tell(new NotRegistered(m.AccountId));
                return;
            }
            Deliver(m.AccountId, m, Sender);
        });
    }

    public static Props Props(EngineServices services) => Akka.Actor.Props.Create(() => new AccountRegion(services));

    /// <summary>
    /// The region under a backoff supervisor, as a host runs it. A persistent actor stops when its journal fails
    /// (a directory write during a store outage, or recovery while the store is down at start); unsupervised, the
    /// region would then be gone until the process restarts and every request would time out. Supervised, it is
    /// restarted with backoff, recovers its directory and wakes its accounts once the store is back; while it is
    /// down, requests are answered at once with <see cref="AccountUnavailableException"/>.
    /// </summary>
    public static Props SupervisedProps(EngineServices services)
    {
        var options = services.Options;
        return BackoffSupervisor.Props(
            Backoff.OnStop(
                    Props(services),
                    childName: "directory",
                    minBackoff: options.RestartMinBackoff,
                    maxBackoff: options.RestartMaxBackoff,
                    randomFactor: 0.2,
                    maxNrOfRetries: -1)
                .WithSupervisorStrategy(new OneForOneStrategy(_ => Directive.Stop))
                .WithReplyWhileStopped(new Status.Failure(new AccountUnavailableException("*"))));
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Log.Error("Account directory: journal write failed ({ErrorType}); the region restarts with backoff.", cause.GetType().Name);
        if (@event is DirectoryEntryAdded added)
            Sender.Tell(new Status.Failure(new AccountUnavailableException(added.AccountId)));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        Log.Error("Account directory: recovery failed ({ErrorType}); the region restarts with backoff.", reason.GetType().Name);
        base.OnRecoveryFailure(reason, message);
    }

    protected override void Deliver(string accountId, object message, IActorRef sender)
    {
        if (_stopping.TryGetValue(accountId, out var held))
            held.Add((message, sender));
        else
            AccountFor(accountId).Tell(message, sender);
    }

    protected override void OnDirectoryRecovered()
    {
        foreach (var id in Ids) AccountFor(id);
        Log.Info("Account region started {AccountCount} registered accounts.", Ids.Count);
    }

    // PersistAsync: registrations of many accounts share journal writes instead of queuing one by one.
    protected override void PersistRegistration(DirectoryEntryAdded entry, Action<DirectoryEntryAdded> handler) => PersistAsync(entry, handler);

    private IActorRef AccountFor(string accountId)
    {
        var child = Context.Child(accountId);
        if (!child.IsNobody()) return child;
        return Context.ActorOf(SupervisedAccountProps(accountId, _services), accountId);
    }

    /// <summary>The account actor under a backoff supervisor; used by the standalone region and by sharding.</summary>
    internal static Props SupervisedAccountProps(string accountId, EngineServices services)
    {
        var options = services.Options;
        return BackoffSupervisor.Props(
            Backoff.OnStop(
                    AccountActor.Props(accountId, services),
                    childName: "account",
                    minBackoff: options.RestartMinBackoff,
                    maxBackoff: options.RestartMaxBackoff,
                    randomFactor: 0.2,
                    maxNrOfRetries: -1)
                .WithSupervisorStrategy(new OneForOneStrategy(_ => Directive.Stop))
                // Sharding's answer to a passivation or hand-off: the account stops for good, not restarted with backoff.
                .WithFinalStopMessage(m => m is Clustering.StopAccount)
                .WithReplyWhileStopped(new Status.Failure(new AccountUnavailableException(accountId))));
    }

}

/// <summary>The account's actor is restarting (e.g. its store is unavailable); try again shortly.</summary>
public sealed class AccountUnavailableException(string accountId)
    : Exception($"Account '{accountId}' is temporarily unavailable: its store is unavailable or it is restarting.")
{
    /// <summary>The account.</summary>
    public string AccountId { get; } = accountId;
}
