using System.Threading.RateLimiting;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
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
internal sealed class AccountActor : ReceivePersistentActor, IWithTimers
{
    private readonly string _accountId;
    private readonly EngineServices _services;
    private readonly EngineOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    private AccountData _data;

    // Refreshing mode (in memory only; the journal holds the intent and the outcome).
    private readonly List<IActorRef> _waiters = [];
    private int _generation;
    private RateLimitLease? _lease;
    private CancellationTokenSource? _callCts;
    private bool _currentTokenRejected;
    private bool _interruptedBefore;
    private DateTimeOffset _callStartedAt;
    private DateTimeOffset? _nextRefreshAt;
    private bool _refreshing;

    public AccountActor(string accountId, EngineServices services)
    {
        _accountId = accountId;
        _services = services;
        _options = services.Options;
        _data = AccountData.Empty(accountId);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is AccountData snapshot) _data = snapshot;
        });
        Recover<IAccountEvent>(e => _data = _data.Apply(e));
        Recover<RecoveryCompleted>(_ => OnRecovered());
    }

    public override string PersistenceId => AccountIdRules.PersistenceId(_accountId);

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string accountId, EngineServices services) =>
        Akka.Actor.Props.Create(() => new AccountActor(accountId, services));

    private DateTimeOffset Now => _services.Time.GetUtcNow();

    private void OnRecovered()
    {
        if (_data.InFlightRefresh is not null)
        {
            // The process died between the intent and the outcome: the refresh token may have been spent.
            _log.Warning("Account {0}: a refresh was interrupted before its outcome was journaled; its refresh token may be consumed.", _accountId);
        }
        EnterJournaledState();
    }

    // ---- behaviours ------------------------------------------------------------------------------

    private void Unregistered()
    {
        Command<Register>(OnRegister);
        Command<GetToken>(m => Sender.Tell(new NotRegistered(m.AccountId)));
        Command<ReportRejected>(m => Sender.Tell(new NotRegistered(m.AccountId)));
        Command<GetStatus>(m => Sender.Tell(new NotRegistered(m.AccountId)));
        Command<IAccountMessage>(m => Sender.Tell(new NotRegistered(m.AccountId)));
        CommonTimers();
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
        Command<Timer.ProactiveRefresh>(_ => StartRefresh(null, "proactive refresh before expiry"));
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
                _services.ReadSide.WithdrawToken(_accountId);
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
        Command<GetToken>(_ =>
        {
            // A proactive refresh runs while the current token is still fresh: keep serving it.
            if (!_currentTokenRejected && _data.HasFreshToken(Now, _options.RefreshLead))
                ReplyToken(Sender, new TokenGranted(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value)));
            else
                _waiters.Add(Sender);
        });
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                _currentTokenRejected = true;
                _services.ReadSide.WithdrawToken(_accountId);
            }
            _waiters.Add(Sender);
        });
        Command<LimiterAnswered>(OnLimiterAnswered);
        Command<RefreshCompleted>(OnRefreshCompleted);
        Command<Timer.RequestTimeout>(m =>
        {
            if (m.Generation != _generation) return;
            _callCts?.Cancel();
            FinishRefresh(new RefreshOutcome.Transient("no answer from the token endpoint in time"), m.Generation);
        });
        Command<GetStatus>(_ => ReplyStatus());
        Command<ForceRefresh>(_ => ReplyStatus());
        // Everything that changes credentials or the state waits until the refresh's outcome is journaled.
        Command<IAccountMessage>(_ => Stash.Stash());
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
    }

    private void RegisteredCommands()
    {
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
            Persist(new AccountRemoved(Now), e =>
            {
                _data = _data.Apply(e);
                _services.ReadSide.Forget(_accountId);
                Sender.Tell(new StatusReply(last));
                EnterJournaledState();
            });
        });
        Command<GetStatus>(_ => ReplyStatus());
        CommonTimers();
    }

    private void CommonTimers()
    {
        Command<RefreshCompleted>(OnLateRefreshCompleted);
        Command<LimiterAnswered>(m => m.Lease?.Dispose());
        Command<Timer.RequestTimeout>(_ => { });
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => _log.Warning("Account {0}: snapshot failed: {1}", _accountId, f.Cause.GetType().Name));
    }

    // ---- token requests ----------------------------------------------------------------------------

    private void OnTokenRequest(IActorRef caller)
    {
        var now = Now;
        var decision = _currentTokenRejected ? DecisionWithoutCurrentToken(now) : _data.DecideToken(now, _options);
        switch (decision)
        {
            case TokenDecision.Refresh:
                StartRefresh(caller, "token requested near or past its refresh point");
                break;
            default:
                ReplyToken(caller, ReplyFor(decision, now));
                break;
        }
    }

    private TokenDecision DecisionWithoutCurrentToken(DateTimeOffset now) =>
        _data.IsBlocked ? TokenDecision.Blocked
        : _data.RetryAt > now ? TokenDecision.BackOff
        : TokenDecision.Refresh;

    private TokenReply ReplyFor(TokenDecision decision, DateTimeOffset now) => decision switch
    {
        TokenDecision.Serve => new TokenGranted(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value)),
        TokenDecision.Blocked => new Blocked(_accountId, _data.LastError ?? "blocked"),
        TokenDecision.BackOff => new AccountProtocol.BackingOff(_accountId, _data.RetryAt ?? now, _data.LastError ?? "backing off"),
        TokenDecision.NotRegistered => new NotRegistered(_accountId),
        // Only reachable right after an outcome whose retry time is already due: report it as a backoff ending now.
        _ => new AccountProtocol.BackingOff(_accountId, _data.RetryAt ?? now, _data.LastError ?? "refresh pending"),
    };

    private void ReplyToken(IActorRef caller, TokenReply reply)
    {
        _services.Metrics.TokenRequest(reply switch
        {
            TokenGranted => "served",
            AccountProtocol.BackingOff => "backing_off",
            Blocked => "blocked",
            _ => "not_found",
        });
        if (!caller.IsNobody()) caller.Tell(reply);
    }

    private bool IsCurrentToken(string fingerprint) =>
        _data.AccessToken is { } token && string.Equals(token.Fingerprint, fingerprint, StringComparison.Ordinal);

    // ---- the refresh sequence ------------------------------------------------------------------------
    // 1. limiter permit (queued refreshes count as Refreshing)  2. journal the intent  3. call upstream (PipeTo)
    // 4. journal the outcome  5. only then answer the callers and publish the new token.

    private void StartRefresh(IActorRef? caller, string why)
    {
        if (caller is not null) _waiters.Add(caller);
        if (!_services.Providers.TryGet(_data.Provider!, out _))
        {
            // The provider vanished from configuration: a configuration error, retried after the long delay.
            PersistAndEnter(new RefreshFailed(ErrorClasses.Rejected, $"provider '{_data.Provider}' is not configured", _services.Backoff.RejectedAttemptAt(Now), false, Now), AnswerWaiters);
            return;
        }
        if (_currentTokenRejected || !_data.HasFreshToken(Now, _options.RefreshLead))
            _services.ReadSide.WithdrawToken(_accountId);

        _log.Debug("Account {0}: refreshing ({1}).", _accountId, why);
        var generation = ++_generation;
        Timers.Cancel(Timer.ProactiveRefreshKey);
        Timers.Cancel(Timer.RetryKey);
        Become(Refreshing);
        PublishStatus(refreshing: true);

        var self = Self;
        _services.Limiter.AcquireAsync(_data.Provider!).AsTask().PipeTo(self,
            success: lease => new LimiterAnswered(generation, lease),
            failure: _ => new LimiterAnswered(generation, null));
    }

    private void OnLimiterAnswered(LimiterAnswered answer)
    {
        if (answer.Generation != _generation)
        {
            answer.Lease?.Dispose();
            return;
        }
        if (answer.Lease is not { IsAcquired: true })
        {
            answer.Lease?.Dispose();
            FinishRefresh(new RefreshOutcome.Transient("refresh queue of this node is full"), answer.Generation);
            return;
        }
        _lease = answer.Lease;

        var refreshToken = _data.RefreshToken!;
        _services.Providers.TryGet(_data.Provider!, out var profile);
        _interruptedBefore = _data.InFlightRefresh is not null;
        var generation = answer.Generation;
        Testing.CrashPoints.At(Testing.CrashPoints.BeforeIntent);
        Persist(new RefreshStarted(refreshToken.Fingerprint, Now), e =>
        {
            _data = _data.Apply(e);
            Testing.CrashPoints.At(Testing.CrashPoints.AfterIntent);
            CallTokenEndpoint(profile!, refreshToken, generation);
        });
    }

    private void CallTokenEndpoint(ProviderProfile profile, Secret refreshToken, int generation)
    {
        _callCts = new CancellationTokenSource();
        _callStartedAt = Now;
        Timers.StartSingleTimer(Timer.RequestTimeoutKey, new Timer.RequestTimeout(generation), profile.RequestTimeout + _options.RequestTimeoutGrace);
        var spent = refreshToken.Fingerprint;
        _services.TokenClient.RefreshAsync(profile, refreshToken, _callCts.Token).PipeTo(Self,
            success: outcome => new RefreshCompleted(generation, spent, outcome),
            failure: ex => new RefreshCompleted(generation, spent, new RefreshOutcome.Transient("token endpoint call failed: " + ex.GetType().Name)));
    }

    private void OnRefreshCompleted(RefreshCompleted completed)
    {
        if (completed.Generation != _generation)
        {
            // A newer attempt is under way; it decides the state. The late answer is only noted.
            _log.Warning("Account {0}: ignoring a token endpoint answer ({1}) that arrived after its timeout.", _accountId, completed.Outcome.Kind);
            return;
        }
        Testing.CrashPoints.At(Testing.CrashPoints.AfterUpstream);
        FinishRefresh(completed.Outcome, completed.Generation);
    }

    private void FinishRefresh(RefreshOutcome outcome, int generation)
    {
        Timers.Cancel(Timer.RequestTimeoutKey);
        _lease?.Dispose();
        _lease = null;
        _callCts?.Dispose();
        _callCts = null;
        _generation = generation + 1; // a late answer of this call is now "late"

        var now = Now;
        _services.Metrics.RefreshCompleted(outcome.Kind, now - _callStartedAt);
        var e = _data.DecideOutcome(outcome, now, _services.Backoff, _interruptedBefore);
        _interruptedBefore = false;
        Persist(e, persisted =>
        {
            _data = _data.Apply(persisted);
            Testing.CrashPoints.At(Testing.CrashPoints.AfterOutcome);
            if (persisted is TokensRefreshed) _currentTokenRejected = false;
            LogOutcome(persisted);
            MaybeSnapshot();
            EnterJournaledState();
            AnswerWaiters();
            Stash.UnstashAll();
        });
    }

    /// <summary>
    /// An answer that arrived after the account gave up waiting. If it carries a rotation of the refresh token
    /// the account still holds, adopt it: dropping it would lose the new pair the provider already issued.
    /// </summary>
    private void OnLateRefreshCompleted(RefreshCompleted late)
    {
        if (late.Outcome is RefreshOutcome.Refreshed refreshed
            && _data.RefreshToken is { } current && current.Fingerprint == late.SpentFingerprint)
        {
            _log.Warning("Account {0}: adopting a refresh answer that arrived after its timeout.", _accountId);
            PersistAndEnter(new TokensRefreshed(refreshed.AccessToken, refreshed.ExpiresAt, refreshed.RefreshToken, Now), AnswerWaiters);
        }
    }

    private void AnswerWaiters()
    {
        if (_waiters.Count == 0) return;
        var now = Now;
        var decision = _currentTokenRejected ? DecisionWithoutCurrentToken(now) : _data.DecideToken(now, _options);
        var reply = ReplyFor(decision, now);
        foreach (var waiter in _waiters) ReplyToken(waiter, reply);
        _waiters.Clear();
    }

    private void LogOutcome(IAccountEvent e)
    {
        switch (e)
        {
            case TokensRefreshed t:
                _log.Info("Account {0}: refreshed; access token valid until {1:O}.", _accountId, t.ExpiresAt);
                break;
            case RefreshFailed f when f.ErrorClass == ErrorClasses.Rejected:
                _log.Error("Account {0}: {1}; next attempt at {2:O}.", _accountId, f.Message, f.RetryAt);
                break;
            case RefreshFailed f:
                // Logged once per failure, never per request that meets the backoff.
                _log.Warning("Account {0}: backing off until {1:O} ({2}: {3}).", _accountId, f.RetryAt, f.ErrorClass, f.Message);
                break;
            case AccountBlocked b:
                _log.Error("Account {0}: blocked ({1}): {2}", _accountId, b.ErrorClass, b.Reason);
                break;
        }
    }

    // ---- registration and credentials ------------------------------------------------------------------

    private void OnRegister(Register m)
    {
        if (Validate(m.Credentials) is { } problem)
        {
            Refuse(m.AccountId, problem);
            return;
        }
        var c = m.Credentials;
        PersistAndEnter(new AccountRegistered(c.Provider, c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, Now), ReplyStatus);
    }

    private void OnReplaceCredentials(ReplaceCredentials m)
    {
        if (Validate(m.Credentials) is { } problem)
        {
            Refuse(m.AccountId, problem);
            return;
        }
        if (!string.Equals(m.Credentials.Provider, _data.Provider, StringComparison.OrdinalIgnoreCase))
        {
            Refuse(m.AccountId, $"account '{m.AccountId}' uses provider '{_data.Provider}', not '{m.Credentials.Provider}'");
            return;
        }
        var c = m.Credentials;
        _currentTokenRejected = false;
        PersistAndEnter(new CredentialsReplaced(c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, Now), ReplyStatus);
    }

    private string? Validate(AccountCredentials c)
    {
        if (!AccountIdRules.IsValid(c.AccountId)) return AccountIdRules.Description;
        if (!_services.Providers.TryGet(c.Provider, out _))
            return $"unknown provider '{c.Provider}' (configured: {string.Join(", ", _services.Providers.Names)})";
        if (c.AccessToken is not null && c.ExpiresAt is null) return "expiresAt is required with an access token";
        if (c.AccessToken is null && c.ExpiresAt is not null) return "expiresAt was given without an access token";
        if (c.ExpiresAt is { } expiresAt && expiresAt <= Now) return $"expiresAt {expiresAt:O} is in the past";
        return null;
    }

    private void Refuse(string accountId, string reason) => Sender.Tell(new CommandRefused(accountId, reason));

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

        if (!_data.IsRegistered)
        {
            _services.ReadSide.Forget(_accountId);
            Become(Unregistered);
            return;
        }

        switch (_data.State)
        {
            case AccountState.PolicyBlocked:
                _services.ReadSide.WithdrawToken(_accountId);
                Become(PolicyBlocked);
                break;
            case AccountState.BackingOff:
                _services.ReadSide.WithdrawToken(_accountId);
                Timers.StartSingleTimer(Timer.RetryKey, Timer.Retry.Instance, Delay(_data.RetryAt!.Value, now));
                Become(BackingOff);
                break;
            default:
                var refreshPoint = _data.RefreshPoint(_options.RefreshLead);
                if (refreshPoint is { } point && !_currentTokenRejected && now < point)
                    _services.ReadSide.PublishToken(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value), point);
                else
                    _services.ReadSide.WithdrawToken(_accountId);
                // Idle accounts refresh on their own, a little before the refresh point, jittered to spread storms.
                var due = refreshPoint is { } p ? p - _options.RefreshJitter * _services.Random() : now;
                _nextRefreshAt = due;
                Timers.StartSingleTimer(Timer.ProactiveRefreshKey, Timer.ProactiveRefresh.Instance, Delay(due, now));
                Become(Valid);
                break;
        }
        PublishStatus(refreshing: false);
    }

    private static TimeSpan Delay(DateTimeOffset due, DateTimeOffset now) => due > now ? due - now : TimeSpan.Zero;

    private void MaybeSnapshot()
    {
        if (LastSequenceNr % _options.SnapshotEvery == 0) SaveSnapshot(_data);
    }

    private AccountStatus Status() => _data.ToStatus(_refreshing, _nextRefreshAt, LastSequenceNr);

    private void PublishStatus(bool refreshing)
    {
        _refreshing = refreshing;
        if (_data.IsRegistered) _services.ReadSide.PublishStatus(Status());
    }

    private void ReplyStatus() => Sender.Tell(new StatusReply(Status()));

    protected override void PostStop()
    {
        _callCts?.Cancel();
        _callCts?.Dispose();
        _lease?.Dispose();
        base.PostStop();
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error("Account {0}: journal write failed ({1}); the account restarts with backoff.", _accountId, cause.GetType().Name);
        foreach (var waiter in _waiters)
            waiter.Tell(new Status.Failure(new Region.AccountUnavailableException(_accountId)));
        _waiters.Clear();
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _log.Error("Account {0}: recovery failed ({1}); the account restarts with backoff.", _accountId, reason.GetType().Name);
        base.OnRecoveryFailure(reason, message);
    }

    // ---- internal messages ----------------------------------------------------------------------------

    private sealed record LimiterAnswered(int Generation, RateLimitLease? Lease);

    private sealed record RefreshCompleted(int Generation, string SpentFingerprint, RefreshOutcome Outcome);

    private static class Timer
    {
        public const string ProactiveRefreshKey = "proactive-refresh";
        public const string RetryKey = "retry";
        public const string RequestTimeoutKey = "request-timeout";

        public sealed record ProactiveRefresh
        {
            public static ProactiveRefresh Instance { get; } = new();
        }

        public sealed record Retry
        {
            public static Retry Instance { get; } = new();
        }

        public sealed record RequestTimeout(int Generation);
    }
}
