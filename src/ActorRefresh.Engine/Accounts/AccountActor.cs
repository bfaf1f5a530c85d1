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

    // ---- behaviours ------------------------------------------------------------------------------

    private void Unregistered()
    {
        Command<Register>(OnRegister);
        Command<IAccountMessage>(m =>
        {
            Sender.Tell(new NotRegistered(m.AccountId));
            StopIfUnregistered();
        });
        Command<StopAccount>(_ => Context.Stop(Self));
        CommonTimers();
    }

    /// <summary>
    /// An entity without an account (never registered, or removed) asks to be stopped, so that an unknown or removed id
    /// is not kept, remembered and restarted forever: a sharded one asks its shard to passivate it, a standalone one asks
    /// the region. The backoff supervisor in between passes the request up.
    /// </summary>
    private void StopIfUnregistered()
    {
        if (_data.IsRegistered || _removal is not null) return;
        Context.Parent.Tell(_services.Cluster is not null ? new Akka.Cluster.Sharding.Passivate(StopAccount.Instance) : StopAccount.Instance);
    }

    private void Valid()
    {
        Command<GetToken>(_ => OnTokenRequest(Sender));
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                _currentTokenRejected = true;
                StartRefresh(Sender, "access token rejected by the API");
            }
            else
            {
                OnTokenRequest(Sender);
            }
        });
        Command<ForceRefresh>(_ =>
        {
            StartRefresh(null, "forced by an operator");
            ReplyStatus();
        });
        Command<Timer.ProactiveRefresh>(_ =>
        {
            // Timers are armed at most MaxTimerDelay ahead: a long-lived token's expiry is re-armed until it is due.
            if (_nextRefreshAt is { } due && due > Now) ArmProactiveRefresh(due);
            else StartRefresh(null, "proactive refresh before expiry");
        });
        RegisteredCommands();
    }

    private void BackingOff()
    {
        Command<GetToken>(_ => OnTokenRequest(Sender));
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                // The token is refused and refreshing is paused: do not hand it out again.
                _currentTokenRejected = true;
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true, FallbackExpiry());
            }
            OnTokenRequest(Sender);
        });
        Command<ForceRefresh>(_ => ReplyStatus());
        Command<Timer.Retry>(_ => StartRefresh(null, "backoff ended"));
        RegisteredCommands();
    }

    private void PolicyBlocked()
    {
        Command<GetToken>(_ => OnTokenRequest(Sender));
        Command<ReportRejected>(_ => OnTokenRequest(Sender));
        Command<ForceRefresh>(_ => ReplyStatus());
        RegisteredCommands();
    }

    private void Refreshing()
    {
        Command<ReportUsage>(OnReportUsage);
        Command<UsageLimiterAnswered>(OnUsageLimiterAnswered);
        // Usage results wait for the refresh's outcome: they may be about the token being replaced.
        Command<UsageCompleted>(_ => Stash.Stash());
        Command<Timer.UsageTimeout>(_ => Stash.Stash());
        Command<Timer.UsageCheck>(_ => _usageDueAt = null);
        Command<GetToken>(_ =>
        {
            // A proactive refresh runs while the current token is still fresh: keep serving it (unless this node may have been
            // replaced meanwhile: its successor may have replaced the token; the caller is answered with the outcome).
            if (!_currentTokenRejected && _data.HasFreshToken(Now, _options) && MayActAsOwner())
                ReplyToken(Sender, new TokenGranted(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value)));
            else
                _attempt!.Waiters.Add(Sender);
        });
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                _currentTokenRejected = true;
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true, FallbackExpiry());
            }
            _attempt!.Waiters.Add(Sender);
        });
        Command<Drain>(_ =>
        {
            _draining = true;
            _drains.Add(Sender);
            if (!UpstreamCallStarted) AbandonRefreshBeforeCall();
        });
        Command<TokenWithdrawConfirmed>(OnWithdrawConfirmed);
        Command<Timer.WithdrawTimeout>(OnWithdrawTimeout);
        // A hand-off or passivation: a call already made is waited for (the provider may have rotated); one not yet made
        // (waiting for withdraw confirmations, a limiter permit or the credentials file) is not made here at all.
        Command<StopAccount>(_ =>
        {
            _stopWhenIdle = true;
            if (!UpstreamCallStarted) AbandonRefreshBeforeCall();
        });
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f => _log.Warning("Account {AccountId}: snapshot failed: {ErrorType}", _accountId, f.Cause.GetType().Name));
        HistoryDeletionReplies();
        Command<LimiterAnswered>(OnLimiterAnswered);
        Command<PreRefreshFileRead>(OnPreRefreshFileRead);
        Command<RefreshCompleted>(OnRefreshCompleted);
        Command<Timer.CredentialsFilePoll>(_ => { });
        Command<CredentialsFileObserved>(_ => { });
        Command<Timer.OwnershipRecheck>(OnOwnershipRecheck);
        Command<Timer.RequestTimeout>(OnRequestTimeout);
        Command<GetStatus>(_ => ReplyStatus());
        Command<ForceRefresh>(_ => ReplyStatus());
        // Everything that changes credentials or the state waits until the refresh's outcome is journaled.
        Command<IAccountMessage>(_ => Stash.Stash());
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
        // Re-armed when the refresh's outcome is journaled.
        Command<Timer.GrantCheck>(_ => { });
    }

    private void RegisteredCommands()
    {
        Command<Timer.GrantCheck>(_ => OnGrantCheck());
        Command<ReportUsage>(OnReportUsage);
        Command<Timer.UsageCheck>(_ => OnUsageTimer());
        Command<UsageLimiterAnswered>(OnUsageLimiterAnswered);
        Command<UsageCompleted>(OnUsageCompleted);
        Command<Timer.UsageTimeout>(OnUsageTimeout);
        Command<Register>(m => Refuse(m.AccountId, $"account '{m.AccountId}' is already registered; use replace-credentials"));
        Command<ReplaceCredentials>(OnReplaceCredentials);
        Command<Block>(m => PersistAndEnter(new AccountBlocked(ErrorClasses.Operator, "blocked by an operator: " + m.Reason, Now), ReplyStatus));
        Command<Unblock>(_ =>
        {
            if (_data.IsBlocked || _data.RetryAt is not null)
                PersistAndEnter(new AccountUnblocked(Now), ReplyStatus);
            else
                ReplyStatus();
        });
        Command<Remove>(_ =>
        {
            var last = Status();
            var replyTo = Sender;
            Persist(new AccountRemoved(Now), e =>
            {
                _data = _data.Apply(e);
                _fanout.Forget(_accountId, LastSequenceNr);
                _services.ReadSide.Forget(_accountId);
                // The removal is journaled; now delete the history, whose events and snapshots hold every token the
                // account had (encrypted). The answer waits for both deletions.
                _removal = new PendingRemoval(replyTo, last);
                DeleteMessages(LastSequenceNr);
                DeleteSnapshots(new SnapshotSelectionCriteria(long.MaxValue, DateTime.MaxValue));
                EnterJournaledState();
            });
        });
        Command<GetStatus>(_ => ReplyStatus());
        CommonTimers();
    }

    private void CommonTimers()
    {
        Command<Drain>(_ =>
        {
            _draining = true;
            Sender.Tell(Drained.Instance);
        });
        Command<Timer.CredentialsFilePoll>(_ =>
        {
            if (_data.CredentialsFile is { } path)
                CredentialsFileSync.ReadAsync(path).PipeTo(Self, success: snapshot => new CredentialsFileObserved(snapshot));
        });
        Command<CredentialsFileObserved>(OnCredentialsFileObserved);
        Command<CredentialsFileWritten>(m =>
        {
            if (m.Error is not null) _log.Warning("Account {AccountId}: writing its credentials file failed: {Error}", _accountId, m.Error);
            NoteCredentialsFile(m.Error);
        });
        Command<PreRefreshFileRead>(_ => { });
        Command<StopAccount>(_ => Context.Stop(Self));
        Command<TokenWithdrawConfirmed>(_ => { });
        Command<Timer.WithdrawTimeout>(_ => { });
        Command<RefreshCompleted>(OnLateRefreshCompleted);
        Command<LimiterAnswered>(m => m.Permit.Dispose());
        Command<Timer.RequestTimeout>(_ => { });
        Command<Timer.OwnershipRecheck>(_ => { });
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
        Command<Timer.UsageCheck>(_ => { });
        Command<Timer.UsageTimeout>(_ => { });
        Command<UsageLimiterAnswered>(m => m.Permit.Dispose());
        Command<UsageCompleted>(_ => { });
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f => _log.Warning("Account {AccountId}: snapshot failed: {ErrorType}", _accountId, f.Cause.GetType().Name));
        Command<HistoryScrubbed>(m =>
        {
            if (_removal is not { } removal) return;
            _removal = null;
            if (m.Error is not null) _log.Warning("Account {AccountId}: its history was deleted, but rewriting the store failed ({Error}); freed pages may still hold its encrypted tokens.", _accountId, m.Error);
            removal.ReplyTo.Tell(new StatusReply(removal.Last));
            StopIfUnregistered();
        });
        HistoryDeletionReplies();
    }

    private void HistoryDeletionReplies()
    {
        Command<DeleteMessagesSuccess>(_ => OnHistoryDeleted(events: true, error: null));
        Command<DeleteMessagesFailure>(f => OnHistoryDeleted(events: true, error: "events: " + f.Cause.GetType().Name));
        Command<DeleteSnapshotsSuccess>(_ => OnHistoryDeleted(events: false, error: null));
        Command<DeleteSnapshotsFailure>(f => OnHistoryDeleted(events: false, error: "snapshots: " + f.Cause.GetType().Name));
    }

    /// <summary>A removal waiting for its history to be deleted: who asked, the status before, what is done.</summary>
    private sealed record PendingRemoval(IActorRef ReplyTo, AccountStatus Last)
    {
        public bool EventsDone { get; set; }
        public bool SnapshotsDone { get; set; }
        public List<string> Errors { get; } = [];
    }

    private PendingRemoval? _removal;

    private void OnHistoryDeleted(bool events, string? error)
    {
        if (_removal is not { } removal)
        {
            OnRewrittenHistoryDeleted(events, error);
            return;
        }
        if (events) removal.EventsDone = true;
        else removal.SnapshotsDone = true;
        if (error is not null) removal.Errors.Add(error);
        if (!removal.EventsDone || !removal.SnapshotsDone) return;
        if (removal.Errors.Count == 0)
        {
            // Reply once the file no longer holds the deleted rows' bytes either.
            Persistence.StoreScrub.RunAsync(Context.System.Settings.Config)
                .PipeTo(Self, success: () => new HistoryScrubbed(null), failure: e => new HistoryScrubbed(e.GetType().Name));
            return;
        }
        _removal = null;
        // The account is removed (journaled) but its old, encrypted tokens are still stored: say so rather than claim a clean removal.
        var reason = $"account removed, but deleting its stored history failed ({string.Join(", ", removal.Errors)}): the store still holds its old encrypted tokens";
        _log.Warning("Account {AccountId}: {Reason}.", _accountId, reason);
        removal.ReplyTo.Tell(new CommandRefused(_accountId, reason));
        StopIfUnregistered();
    }

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

    // ---- internal messages ----------------------------------------------------------------------------

    private sealed record HistoryScrubbed(string? Error);

    private sealed record LimiterAnswered(int Attempt, LimiterPermit Permit, bool Granted);

    private sealed record RefreshCompleted(int Attempt, string SpentFingerprint, RefreshOutcome Outcome);

    private sealed record PreRefreshFileRead(int Attempt, CredentialsFileSnapshot Snapshot);

    private sealed record CredentialsFileObserved(CredentialsFileSnapshot Snapshot);

    private sealed record CredentialsFileWritten(string? Error);
    private sealed record UsageLimiterAnswered(int Check, LimiterPermit Permit, bool Granted);

    private sealed record UsageCompleted(int Check, string TokenFingerprint, UsageOutcome Outcome);

    private static class Timer
    {
        public const string ProactiveRefreshKey = "proactive-refresh";
        public const string RetryKey = "retry";
        public const string RequestTimeoutKey = "request-timeout";
        public const string CredentialsFilePollKey = "credentials-file-poll";

        public sealed record CredentialsFilePoll
        {
            public static CredentialsFilePoll Instance { get; } = new();
        }
        public const string WithdrawTimeoutKey = "withdraw-timeout";
        public const string UsageCheckKey = "usage-check";
        public const string UsageTimeoutKey = "usage-timeout";

        public sealed record UsageCheck
        {
            public static UsageCheck Instance { get; } = new();
        }

        public sealed record UsageTimeout(int Check);

        public const string GrantCheckKey = "grant-check";

        public sealed record GrantCheck
        {
            public static GrantCheck Instance { get; } = new();
        }

        public sealed record ProactiveRefresh
        {
            public static ProactiveRefresh Instance { get; } = new();
        }

        public sealed record Retry
        {
            public static Retry Instance { get; } = new();
        }

        public sealed record RequestTimeout(int Attempt);

        public const string OwnershipRecheckKey = "ownership-recheck";

        public sealed record OwnershipRecheck(int Attempt);

        /// <summary>For a refresh attempt or a credential replacement: the number of the one it belongs to.</summary>
        public sealed record WithdrawTimeout(int Attempt);
    }
}
