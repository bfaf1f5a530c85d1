using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Credentials;
using ActorRefresh.Engine.Limiting;
using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>
/// One account: an event-sourced state machine (Unregistered, Valid, Refreshing, BackingOff, PolicyBlocked)
/// that handles its messages one at a time. The rules live in <see cref="AccountData"/>; this actor journals,
/// schedules timers, calls the token endpoint (piped back, never awaited) and answers callers.
/// </summary>
internal sealed partial class AccountActor : ReceivePersistentActor, IWithTimers
{
    private readonly string _accountId;
    private readonly EngineServices _services;
    private readonly EngineOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TokenFanout _fanout;
    // Cluster mode: may this node still act as the account's owner (see MembershipGuard)? Null standalone.
    private readonly Func<bool>? _ownershipCheck;

    private AccountData _data;

    // The refresh under way (in memory only; the journal holds the intent and the outcome). Its permit and call are
    // released by PostStop whatever step it is at.
    private RefreshAttempt? _attempt;
    // Numbers refresh attempts and credential replacements: a message carrying an older number is late.
    private int _lastOperationId;
    private bool _currentTokenRejected;
    private DateTimeOffset? _nextRefreshAt;
    private bool _refreshing;
    private bool _draining;
    private readonly List<IActorRef> _drains = [];
    private bool _stopWhenIdle;

    // Sequence number of the last snapshot saved or recovered from: the next one is due SnapshotEvery events later.
    private long _snapshotSequenceNr;

    // Usage checks (in memory only; results that change a decision are journaled).
    private UsageCheck? _usageCheck;
    private DateTimeOffset? _usageDueAt;

    public AccountActor(string accountId, EngineServices services)
    {
        _accountId = accountId;
        _services = services;
        _options = services.Options;
        _data = AccountData.Empty(accountId);
        _fanout = TokenFanout.Create(Context, services);
        _ownershipCheck = services.OwnershipCheck ?? (services.Cluster is null ? null : MembershipGuard.For(Context.System));

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is not AccountData snapshot) return;
            if (snapshot.AccountId != _accountId) throw ForeignRow("snapshot", snapshot.AccountId);
            _data = snapshot;
            _snapshotSequenceNr = offer.Metadata.SequenceNr;
        });
        Recover<IAccountEvent>(e =>
        {
            if (e is ITokenEvent { AccountId: { } owner } && owner != _accountId) throw ForeignRow("event", owner);
            if (e is ITokenEvent { AccountId: null }) _staleHistory = true; // written before ciphertexts were bound to their account
            _data = _data.Apply(e);
        });
        Recover<RecoveryCompleted>(_ => OnRecovered());
    }

    public override string PersistenceId => AccountIdRules.PersistenceId(_accountId);

    // A row of another account in this account's journal: someone with write access to the store copied it (to read
    // that account's tokens through this one). Its ciphertexts authenticate, bound to the other account, so refuse it here.
    private InvalidOperationException ForeignRow(string what, string owner) =>
        new($"Account {_accountId}: a journaled {what} of account '{owner}' is in this account's journal (copied between accounts?); refusing to recover it.");

    // Every journal write goes through these: token-bearing events are stamped with this account's id, which the
    // serializer binds their ciphertexts to (the serializer never sees the persistence id). Handlers get the events they
    // were given, so callers may keep recognising them by reference.
    private new void Persist<TEvent>(TEvent @event, Action<TEvent> handler) => base.Persist(Stamp(@event), _ => handler(@event));

    private new void PersistAll<TEvent>(IEnumerable<TEvent> events, Action<TEvent> handler)
    {
        var given = events.ToList();
        var next = 0;
        base.PersistAll(given.Select(Stamp).ToList(), _ => handler(given[next++]));
    }

    private TEvent Stamp<TEvent>(TEvent @event) => @event is ITokenEvent token ? (TEvent)token.For(_accountId) : @event;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string accountId, EngineServices services) =>
        Akka.Actor.Props.Create(() => new AccountActor(accountId, services));

    private DateTimeOffset Now => _services.Time.GetUtcNow();

    /// <summary>
    /// The expiry of the access token this account may still serve while it cannot refresh (kept as the outage fallback on
    /// every node while it is this one); null when it may serve none: blocked, rejected, or no access token.
    /// </summary>
    private DateTimeOffset? FallbackExpiry() => _currentTokenRejected || _data.IsBlocked || _data.AccessToken is null ? null : _data.ExpiresAt;

    private int NextOperationId() => ++_lastOperationId;

    /// <summary>False in cluster mode while this node cannot confirm it is still a member in good standing (see MembershipGuard).</summary>
    private bool MayActAsOwner() => _ownershipCheck is null || _ownershipCheck();

    private void OnRecovered()
    {
        var rewrite = RecoveredStaleHistory();
        _fanout.RecoveredAt(LastSequenceNr);
        if (_data.InFlightRefresh is not null)
        {
            // A crash between intent and outcome, or an answer lost on the way: the refresh token may have been spent.
            _log.Warning("Account {AccountId}: a refresh was interrupted (crash or lost answer); its refresh token may be consumed.", _accountId);
            // The incarnation that opened the intent (a paused or replaced node) may still be waiting for its call: make
            // none before that call's deadline.
            var fenced = _services.WaitsOutRecoveredIntents ? _data.WaitOutOpenIntent(Now, LegacyIntentWindow()) : _data;
            if (!ReferenceEquals(fenced, _data))
                _log.Warning("Account {AccountId}: no refresh before {RetryAt:O}, the deadline of the open refresh intent.", _accountId, fenced.RetryAt);
            _data = fenced;
        }
        EnterJournaledState();
        if (_data.PolicyRecheckPending) ArmUsageCheck(TimeSpan.Zero);
        if (rewrite) RewriteHistory();
    }

    /// <summary>The deadline window assumed for an intent journaled without one: this provider's request timer today.</summary>
    private TimeSpan LegacyIntentWindow() =>
        (_data.Provider is { } name && _services.Providers.TryGet(name, out var profile) ? profile.RequestTimeout : TimeSpan.Zero)
        + _options.RequestTimeoutGrace;

    // ---- entering a journaled state ------------------------------------------------------------------

    private void PersistAndEnter(IAccountEvent e, Action then)
    {
        Persist(e, persisted =>
        {
            _data = _data.Apply(persisted);
            LogOutcome(persisted);
            MaybeSnapshot();
            EnterJournaledState();
            then();
        });
    }

    /// <summary>Switches behaviour, timers and read side to what the journaled state says.</summary>
    private void EnterJournaledState()
    {
        Timers.Cancel(Timer.ProactiveRefreshKey);
        Timers.Cancel(Timer.RetryKey);
        _nextRefreshAt = null;
        var now = Now;

        if (_data.CredentialsFile is not null && _data.IsRegistered)
        {
            if (!Timers.IsTimerActive(Timer.CredentialsFilePollKey))
                Timers.StartPeriodicTimer(Timer.CredentialsFilePollKey, Timer.CredentialsFilePoll.Instance, _options.CredentialsFilePollInterval);
        }
        else
        {
            Timers.Cancel(Timer.CredentialsFilePollKey);
        }

        if (!_data.IsRegistered)
        {
            Timers.Cancel(Timer.UsageCheckKey);
            Timers.Cancel(Timer.GrantCheckKey);
            AbandonUsageCheck();
            _services.ReadSide.Forget(_accountId);
            Become(Unregistered);
            return;
        }

        // Refusals live only on this node's read side (the node hosting the account); other nodes ask.
        _services.ReadSide.WithdrawRefusal(_accountId);
        switch (_data.State)
        {
            case AccountState.PolicyBlocked:
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false, FallbackExpiry());
                _services.ReadSide.PublishRefusal(_accountId, new AccountRefusal(true, null, _data.LastError ?? "blocked"));
                Become(PolicyBlocked);
                break;
            case AccountState.BackingOff:
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false, FallbackExpiry());
                if (_currentTokenRejected || !_data.HasStillValidToken(now, _options))
                    _services.ReadSide.PublishRefusal(_accountId, new AccountRefusal(false, _data.RetryAt, _data.LastError ?? "backing off"));
                Timers.StartSingleTimer(Timer.RetryKey, Timer.Retry.Instance, Delay(_data.RetryAt!.Value, now));
                Become(BackingOff);
                break;
            default:
                var refreshPoint = _data.RefreshPoint(_options);
                if (refreshPoint is { } point && !_currentTokenRejected && now < point)
                    _fanout.Publish(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value), point, LastSequenceNr);
                else
                    _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false, FallbackExpiry());
                // Idle accounts refresh on their own, a little before the refresh point, jittered to spread storms (the
                // jitter scaled like the lead, or a short-lived token would be refreshed as soon as it arrives).
                var due = refreshPoint is { } p ? p - _data.Timing(_options).Jitter * _services.Random() : now;
                _nextRefreshAt = due;
                ArmProactiveRefresh(due);
                Become(Valid);
                break;
        }
        if (!_data.WantsUsageChecks)
        {
            Timers.Cancel(Timer.UsageCheckKey);
            _usageDueAt = null;
        }
        else if (_usageCheck is null && !Timers.IsTimerActive(Timer.UsageCheckKey))
        {
            ArmUsageCheck();
        }
        ArmGrantCheck();
        PublishStatus(refreshing: false);
    }

    private static TimeSpan Delay(DateTimeOffset due, DateTimeOffset now) => due > now ? due - now : TimeSpan.Zero;

    /// <summary>
    /// Saves a snapshot once SnapshotEvery events have been journaled since the last one, whatever their kind. Called
    /// after every journaled state change but the refresh intent (always followed by its outcome), so a snapshot is
    /// never more than one event late.
    /// </summary>
    private void MaybeSnapshot()
    {
        if (LastSequenceNr - _snapshotSequenceNr < _options.SnapshotEvery) return;
        _snapshotSequenceNr = LastSequenceNr;
        SaveSnapshot(_data);
    }

    private AccountStatus Status() => _data.ToStatus(_refreshing, _nextRefreshAt, LastSequenceNr) with { CredentialsFileError = _credentialsFileError };

    /// <summary>Why the last read or write of the synced credentials file failed (no path outside its folder, no token); null after one succeeds.</summary>
    private string? _credentialsFileError;

    private void NoteCredentialsFile(string? error)
    {
        if (error == _credentialsFileError) return;
        _credentialsFileError = error;
        if (_data.IsRegistered) _services.ReadSide.PublishStatus(Status());
    }

    private void PublishStatus(bool refreshing)
    {
        _refreshing = refreshing;
        if (_data.IsRegistered) _services.ReadSide.PublishStatus(Status());
    }

    private void ReplyStatus() => Sender.Tell(new StatusReply(Status()));

    protected override void PostStop()
    {
        AbandonUsageCheck();
        _attempt?.CancelCall();
        _attempt?.Release(); // the permit: queued, granted with its answer still in the mailbox, or held: released exactly once
        if (_services.Cluster is not null)
        {
            // Handed off, passivated or restarting: this node no longer hosts the account. Its next incarnation
            // (here or on another node) publishes again after recovery.
            if (_data.IsRegistered) _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false, FallbackExpiry());
            _services.ReadSide.ForgetStatus(_accountId);
        }
        base.PostStop();
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error("Account {AccountId}: journal write failed ({ErrorType}); the account restarts with backoff.", _accountId, cause.GetType().Name);
        foreach (var waiter in _attempt?.Waiters ?? [])
            waiter.Tell(new Status.Failure(new Region.AccountUnavailableException(_accountId)));
        _attempt?.Waiters.Clear();
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _log.Error("Account {AccountId}: recovery failed ({ErrorType}); the account restarts with backoff.", _accountId, reason.GetType().Name);
        base.OnRecoveryFailure(reason, message);
    }

}
