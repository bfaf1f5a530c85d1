using System.Threading.RateLimiting;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Credentials;
using ActorRefresh.Engine.ReadSide;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Core.Usage;
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
    private readonly TokenFanout _fanout;

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
    private bool _draining;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IActorRef> _drains = [];
    private int _confirmationsPending;
    private bool _stopWhenIdle;

    // Usage checks (in memory only; results that change a decision are journaled).
    private bool _usageInFlight;
    private int _usageGeneration;
    private RateLimitLease? _usageLease;
    private CancellationTokenSource? _usageCts;
    private DateTimeOffset? _usageDueAt;

    public AccountActor(string accountId, EngineServices services)
    {
        _accountId = accountId;
        _services = services;
        _options = services.Options;
        _data = AccountData.Empty(accountId);
        _fanout = TokenFanout.Create(Context, services);

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
        if (_data.PolicyRecheckPending) ArmUsageCheck(TimeSpan.Zero);
    }

    // ---- behaviours ------------------------------------------------------------------------------

    private void Unregistered()
    {
        Command<Register>(OnRegister);
        Command<IAccountMessage>(m =>
        {
            Sender.Tell(new NotRegistered(m.AccountId));
            PassivateIfSharded();
        });
        Command<StopAccount>(_ => Context.Stop(Self));
        CommonTimers();
    }

    /// <summary>
    /// A sharded entity without an account (never registered, or removed) asks its shard to stop it, so that an unknown
    /// id is not remembered and restarted forever. The backoff supervisor in between passes the request up.
    /// </summary>
    private void PassivateIfSharded()
    {
        if (_services.Cluster is not null && !_data.IsRegistered)
            Context.Parent.Tell(new Akka.Cluster.Sharding.Passivate(StopAccount.Instance));
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
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true);
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
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true);
            }
            _waiters.Add(Sender);
        });
        Command<Drain>(_ =>
        {
            _draining = true;
            _drains.Add(Sender);
        });
        Command<TokenWithdrawConfirmed>(m =>
        {
            if (_confirmationsPending > 0 && m.Version == LastSequenceNr * 2 + 1 && --_confirmationsPending == 0)
            {
                Timers.Cancel(Timer.WithdrawTimeoutKey);
                AcquirePermit(_generation);
            }
        });
        Command<Timer.WithdrawTimeout>(m =>
        {
            if (m.Generation != _generation || _confirmationsPending == 0) return;
            _log.Warning("Account {0}: {1} node(s) did not confirm dropping the old token in time; refreshing anyway.", _accountId, _confirmationsPending);
            _confirmationsPending = 0;
            AcquirePermit(_generation);
        });
        Command<StopAccount>(_ => _stopWhenIdle = true);
        Command<LimiterAnswered>(OnLimiterAnswered);
        Command<PreRefreshFileRead>(OnPreRefreshFileRead);
        Command<RefreshCompleted>(OnRefreshCompleted);
        Command<Timer.CredentialsFilePoll>(_ => { });
        Command<CredentialsFileObserved>(_ => { });
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
            Persist(new AccountRemoved(Now), e =>
            {
                _data = _data.Apply(e);
                _fanout.Forget(_accountId, LastSequenceNr);
                _services.ReadSide.Forget(_accountId);
                Sender.Tell(new StatusReply(last));
                EnterJournaledState();
                PassivateIfSharded();
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
            if (m.Error is not null) _log.Warning("Account {0}: writing its credentials file failed: {1}", _accountId, m.Error);
        });
        Command<PreRefreshFileRead>(_ => { });
        Command<StopAccount>(_ => Context.Stop(Self));
        Command<TokenWithdrawConfirmed>(_ => { });
        Command<Timer.WithdrawTimeout>(_ => { });
        Command<RefreshCompleted>(OnLateRefreshCompleted);
        Command<LimiterAnswered>(m => m.Lease?.Dispose());
        Command<Timer.RequestTimeout>(_ => { });
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
        Command<Timer.UsageCheck>(_ => { });
        Command<Timer.UsageTimeout>(_ => { });
        Command<UsageLimiterAnswered>(m => m.Lease?.Dispose());
        Command<UsageCompleted>(_ => { });
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
        if (_draining)
        {
            // Shutting down: a refresh started now could not journal its outcome.
            caller?.Tell(new Status.Failure(new Region.AccountUnavailableException(_accountId)));
            return;
        }
        if (caller is not null) _waiters.Add(caller);
        if (!_services.Providers.TryGet(_data.Provider!, out _))
        {
            // The provider vanished from configuration: a configuration error, retried after the long delay.
            PersistAndEnter(new RefreshFailed(ErrorClasses.Rejected, $"provider '{_data.Provider}' is not configured", _services.Backoff.RejectedAttemptAt(Now), false, Now), AnswerWaiters);
            return;
        }
        _log.Debug("Account {0}: refreshing ({1}).", _accountId, why);
        _services.ReadSide.WithdrawRefusal(_accountId);
        var generation = ++_generation;
        Timers.Cancel(Timer.ProactiveRefreshKey);
        Timers.Cancel(Timer.RetryKey);
        Become(Refreshing);
        PublishStatus(refreshing: true);

        if (_services.Cluster is null)
        {
            // One node: the read side is this process's; the account keeps it current synchronously.
            if (_currentTokenRejected || !_data.HasFreshToken(Now, _options.RefreshLead))
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true);
            AcquirePermit(generation);
            return;
        }
        // Several nodes: before the token can be replaced upstream, every node must have stopped serving it from its
        // read side (the account itself goes on answering with it while it is fresh). Wait for their confirmations.
        _confirmationsPending = _fanout.WithdrawConfirmed(_accountId, LastSequenceNr, Self);
        if (_confirmationsPending == 0)
        {
            AcquirePermit(generation);
            return;
        }
        Timers.StartSingleTimer(Timer.WithdrawTimeoutKey, new Timer.WithdrawTimeout(generation), _services.Cluster.EffectiveWithdrawTimeout);
    }

    private void AcquirePermit(int generation)
    {
        var self = Self;
        // Cancelled when the actor stops, so a queued permit is not granted to an actor that is gone.
        _services.Limiter.AcquireAsync(_data.Provider!, _stopping.Token).AsTask().PipeTo(self,
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

        if (_data.CredentialsFile is { } path)
        {
            // Another program (the Claude Code CLI) may have rotated the pair in the file: re-read it before
            // spending a refresh token that may already be consumed.
            var generation = answer.Generation;
            CredentialsFileSync.ReadAsync(path).PipeTo(Self, success: snapshot => new PreRefreshFileRead(generation, snapshot));
            return;
        }
        BeginUpstreamCall(answer.Generation);
    }

    private void OnPreRefreshFileRead(PreRefreshFileRead read)
    {
        if (read.Generation != _generation) return;
        if (read.Snapshot.Credentials is not { } file || _data.DecideCredentialsFile(file) != CredentialsFileDecision.Adopt)
        {
            if (read.Snapshot.Error is { } error) _log.Warning("Account {0}: credentials file not read before refresh: {1}", _accountId, error);
            BeginUpstreamCall(read.Generation);
            return;
        }
        Persist(AdoptionOf(file), e =>
        {
            _data = _data.Apply(e);
            _currentTokenRejected = false;
            _log.Info("Account {0}: adopted a newer token pair from its credentials file instead of refreshing.", _accountId);
            MaybeSnapshot();
            if (_data.HasFreshToken(Now, _options.RefreshLead))
                EndRefreshWithoutCall();
            else
                BeginUpstreamCall(read.Generation);
        });
    }

    private CredentialsReplaced AdoptionOf(ClaudeCredentials file)
    {
        var now = Now;
        var accessValid = file.ExpiresAt > now;
        return new CredentialsReplaced(file.RefreshToken, accessValid ? file.AccessToken : null, accessValid ? file.ExpiresAt : null, null, now);
    }

    /// <summary>The refresh became unnecessary (a newer pair was adopted): release the permit and answer the callers.</summary>
    private void EndRefreshWithoutCall()
    {
        _lease?.Dispose();
        _lease = null;
        _generation++;
        EnterJournaledState();
        AnswerWaiters();
        AnswerDrains();
        Stash.UnstashAll();
    }

    private void BeginUpstreamCall(int generation)
    {
        Testing.CrashPoints.At(Testing.CrashPoints.BeforeIntent);
        var refreshToken = _data.RefreshToken!;
        _services.Providers.TryGet(_data.Provider!, out var profile);
        _interruptedBefore = _data.InFlightRefresh is not null;
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
            if (persisted is TokensRefreshed)
            {
                _currentTokenRejected = false;
                WriteCredentialsFile();
            }
            LogOutcome(persisted);
            MaybeSnapshot();
            EnterJournaledState();
            AnswerWaiters();
            AnswerDrains();
            Stash.UnstashAll();
            if (_stopWhenIdle) Context.Stop(Self);
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

    private void AnswerDrains()
    {
        foreach (var drain in _drains) drain.Tell(Drained.Instance);
        _drains.Clear();
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

    // ---- usage (quota) checks --------------------------------------------------------------------------
    // Timer → limiter permit → GET usage with the current access token (PipeTo) → pure decision in AccountData →
    // in-memory update, journaled only when it changes a decision → read side. Never touches refresh state, except
    // that a 401 is handled as a rejection of the current token (the normal deduplicated refresh path).

    private bool UsageEnabled(out ProviderProfile profile)
    {
        profile = null!;
        if (_services.UsageClient is null || _data.Provider is null || !_services.Providers.TryGet(_data.Provider, out var found))
            return false;
        profile = found!;
        return profile.UsageEndpoint is not null;
    }

    /// <summary>Arms the next check: after <paramref name="delay"/>, or the jittered interval; never before the quota-check backoff ends.</summary>
    private void ArmUsageCheck(TimeSpan? delay = null)
    {
        if (!_data.IsRegistered || !UsageEnabled(out _) || (_data.IsBlocked && !_data.PolicyRecheckPending))
        {
            Timers.Cancel(Timer.UsageCheckKey);
            _usageDueAt = null;
            return;
        }
        var now = Now;
        var due = now + (delay ?? _options.UsageCheckInterval - _options.UsageCheckJitter * _services.Random());
        if (_data.QuotaCheckRetryAt is { } retryAt && retryAt > due) due = retryAt;
        _usageDueAt = due;
        Timers.StartSingleTimer(Timer.UsageCheckKey, Timer.UsageCheck.Instance, Delay(due, now));
    }

    private void OnUsageTimer()
    {
        _usageDueAt = null;
        if (_usageInFlight || !UsageEnabled(out _)) return;
        if (_currentTokenRejected || !_data.CanCheckUsage(Now, _options))
        {
            // No fresh token (a refresh will bring one) or checks are backing off: look again later.
            ArmUsageCheck();
            return;
        }
        _usageInFlight = true;
        var generation = ++_usageGeneration;
        _services.Limiter.AcquireAsync(_data.Provider!).AsTask().PipeTo(Self,
            success: lease => new UsageLimiterAnswered(generation, lease),
            failure: _ => new UsageLimiterAnswered(generation, null));
    }

    private void OnUsageLimiterAnswered(UsageLimiterAnswered answer)
    {
        if (answer.Generation != _usageGeneration || !_usageInFlight)
        {
            answer.Lease?.Dispose();
            return;
        }
        if (answer.Lease is not { IsAcquired: true })
        {
            answer.Lease?.Dispose();
            FinishUsage(new UsageOutcome.QuotaCheckTransient("request queue of this node is full"), null);
            return;
        }
        if (!UsageEnabled(out var profile) || _currentTokenRejected || !_data.CanCheckUsage(Now, _options))
        {
            // The account changed while the check waited for its permit.
            answer.Lease.Dispose();
            _usageInFlight = false;
            ArmUsageCheck();
            return;
        }
        _usageLease = answer.Lease;
        _usageCts = new CancellationTokenSource();
        var token = _data.AccessToken!;
        var fingerprint = token.Fingerprint;
        var generation = answer.Generation;
        Timers.StartSingleTimer(Timer.UsageTimeoutKey, new Timer.UsageTimeout(generation), profile.RequestTimeout + _options.RequestTimeoutGrace);
        _services.UsageClient!.CheckAsync(profile, token, _usageCts.Token).PipeTo(Self,
            success: outcome => new UsageCompleted(generation, fingerprint, outcome),
            failure: ex => new UsageCompleted(generation, fingerprint, new UsageOutcome.QuotaCheckTransient("usage call failed: " + ex.GetType().Name)));
    }

    private void OnUsageCompleted(UsageCompleted completed)
    {
        if (completed.Generation != _usageGeneration || !_usageInFlight) return; // timed out or abandoned
        FinishUsage(completed.Outcome, completed.TokenFingerprint);
    }

    private void OnUsageTimeout(Timer.UsageTimeout timeout)
    {
        if (timeout.Generation != _usageGeneration || !_usageInFlight) return;
        _usageCts?.Cancel();
        FinishUsage(new UsageOutcome.QuotaCheckTransient("no answer from the usage endpoint in time"), null);
    }

    private void AbandonUsageCheck()
    {
        Timers.Cancel(Timer.UsageTimeoutKey);
        _usageCts?.Cancel();
        _usageCts?.Dispose();
        _usageCts = null;
        _usageLease?.Dispose();
        _usageLease = null;
        _usageInFlight = false;
        _usageGeneration++;
    }

    private void FinishUsage(UsageOutcome outcome, string? tokenFingerprint)
    {
        Timers.Cancel(Timer.UsageTimeoutKey);
        _usageLease?.Dispose();
        _usageLease = null;
        _usageCts?.Dispose();
        _usageCts = null;
        _usageInFlight = false;
        _usageGeneration++;
        _services.Metrics.UsageCheck(outcome.Kind);

        // An answer about a token that is no longer current says nothing about the current credentials.
        if (tokenFingerprint is not null && !IsCurrentToken(tokenFingerprint) && outcome is not UsageOutcome.QuotaObserved)
        {
            ArmUsageCheck();
            return;
        }

        var decision = _data.DecideUsage(outcome, Now, _options, _services.Backoff);
        _data = decision.InMemory;
        LogUsage(outcome);
        if (decision.TokenRejected && tokenFingerprint is not null)
        {
            // As a ReportRejected of the current token: one deduplicated refresh (or, while backing off, withdraw it).
            _currentTokenRejected = true;
            if (_data.State == AccountState.Valid)
            {
                StartRefresh(null, "access token rejected by the usage endpoint");
                return; // EnterJournaledState after the refresh arms the next check.
            }
            _services.ReadSide.WithdrawToken(_accountId);
        }
        if (decision.Events.Count == 0)
        {
            PublishStatus(_refreshing);
            ArmUsageCheck();
            return;
        }
        var last = decision.Events[^1];
        PersistAll(decision.Events, persisted =>
        {
            _data = _data.Apply(persisted);
            LogOutcome(persisted);
            MaybeSnapshot();
            if (!ReferenceEquals(persisted, last)) return;
            EnterJournaledState();
            ArmUsageCheck();
        });
    }

    private void LogUsage(UsageOutcome outcome)
    {
        switch (outcome)
        {
            case UsageOutcome.QuotaCheckRateLimited or UsageOutcome.QuotaCheckTransient:
                _log.Info("Account {0}: usage check failed ({1}); quota checks wait until {2:O}.", _accountId, outcome.Kind, _data.QuotaCheckRetryAt);
                break;
            case UsageOutcome.AccessTokenRejected:
                _log.Info("Account {0}: the usage endpoint rejected the access token.", _accountId);
                break;
        }
    }

    private void OnReportUsage(ReportUsage m)
    {
        var now = Now;
        var passive = UnifiedRateLimitHeaders.Parse(m.StatusCode, m.Headers ?? [], now, _services.Backoff.Limits);
        _services.Metrics.UsageReported(passive.Rejected ? "rate_limited" : passive.IsEmpty ? "empty" : "headers");
        var decision = _data.DecidePassive(passive, now, _options);
        _data = decision.InMemory;
        if (passive.Rejected && !_usageInFlight)
        {
            // Learn the quota soon after the API refused a request.
            var soon = now + _options.UsageCheckAfterRateLimit;
            if (_usageDueAt is null || _usageDueAt > soon) ArmUsageCheck(_options.UsageCheckAfterRateLimit);
        }
        var sender = Sender;
        if (decision.Events.Count == 0)
        {
            PublishStatus(_refreshing);
            sender.Tell(new StatusReply(Status()));
            return;
        }
        var last = decision.Events[^1];
        PersistAll(decision.Events, persisted =>
        {
            _data = _data.Apply(persisted);
            if (persisted is ApiCooldownStarted c)
                _log.Info("Account {0}: the API refused a request for quota; pools avoid the account until {1:O}.", _accountId, c.Until);
            MaybeSnapshot();
            if (!ReferenceEquals(persisted, last)) return;
            PublishStatus(_refreshing);
            sender.Tell(new StatusReply(Status()));
        });
    }

    // ---- registration and credentials ------------------------------------------------------------------

    private void OnCredentialsFileObserved(CredentialsFileObserved observed)
    {
        if (observed.Snapshot.Credentials is not { } file)
        {
            if (observed.Snapshot.Error is { } error) _log.Warning("Account {0}: credentials file not readable: {1}", _accountId, error);
            return;
        }
        switch (_data.DecideCredentialsFile(file))
        {
            case CredentialsFileDecision.Adopt:
                _currentTokenRejected = false;
                PersistAndEnter(AdoptionOf(file), () =>
                    _log.Info("Account {0}: adopted a newer token pair written to its credentials file by another program.", _accountId));
                break;
            case CredentialsFileDecision.WriteBack:
                WriteCredentialsFile();
                break;
        }
    }

    private void WriteCredentialsFile()
    {
        if (_data is { CredentialsFile: { } path, AccessToken: { } access, RefreshToken: { } refresh, ExpiresAt: { } expiresAt })
            CredentialsFileSync.WriteAsync(path, access, refresh, expiresAt).PipeTo(Self, success: error => new CredentialsFileWritten(error));
    }

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
        // A check under way was made with the old token: its answer is about the old credentials.
        AbandonUsageCheck();
        PersistAndEnter(new CredentialsReplaced(c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, Now), () =>
        {
            // An organisation-policy block stands until a usage check with the new access token succeeds: check now.
            if (_data.PolicyRecheckPending) ArmUsageCheck(TimeSpan.Zero);
            ReplyStatus();
        });
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
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false);
                _services.ReadSide.PublishRefusal(_accountId, new AccountRefusal(true, null, _data.LastError ?? "blocked"));
                Become(PolicyBlocked);
                break;
            case AccountState.BackingOff:
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false);
                if (_currentTokenRejected || !_data.HasStillValidToken(now, _options.MinimumValidity))
                    _services.ReadSide.PublishRefusal(_accountId, new AccountRefusal(false, _data.RetryAt, _data.LastError ?? "backing off"));
                Timers.StartSingleTimer(Timer.RetryKey, Timer.Retry.Instance, Delay(_data.RetryAt!.Value, now));
                Become(BackingOff);
                break;
            default:
                var refreshPoint = _data.RefreshPoint(_options.RefreshLead);
                if (refreshPoint is { } point && !_currentTokenRejected && now < point)
                    _fanout.Publish(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value), point, LastSequenceNr);
                else
                    _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false);
                // Idle accounts refresh on their own, a little before the refresh point, jittered to spread storms.
                var due = refreshPoint is { } p ? p - _options.RefreshJitter * _services.Random() : now;
                _nextRefreshAt = due;
                Timers.StartSingleTimer(Timer.ProactiveRefreshKey, Timer.ProactiveRefresh.Instance, Delay(due, now));
                Become(Valid);
                break;
        }
        if (_data.IsBlocked && !_data.PolicyRecheckPending)
        {
            Timers.Cancel(Timer.UsageCheckKey);
            _usageDueAt = null;
        }
        else if (!_usageInFlight && !Timers.IsTimerActive(Timer.UsageCheckKey))
        {
            ArmUsageCheck();
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
        _stopping.Cancel();
        _stopping.Dispose();
        AbandonUsageCheck();
        _callCts?.Cancel();
        _callCts?.Dispose();
        _lease?.Dispose();
        if (_services.Cluster is not null)
        {
            // Handed off, passivated or restarting: this node no longer hosts the account. Its next incarnation
            // (here or on another node) publishes again after recovery.
            if (_data.IsRegistered) _fanout.Withdraw(_accountId, LastSequenceNr, doubt: false);
            _services.ReadSide.ForgetStatus(_accountId);
        }
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

    private sealed record PreRefreshFileRead(int Generation, CredentialsFileSnapshot Snapshot);

    private sealed record CredentialsFileObserved(CredentialsFileSnapshot Snapshot);

    private sealed record CredentialsFileWritten(string? Error);
    private sealed record UsageLimiterAnswered(int Generation, RateLimitLease? Lease);

    private sealed record UsageCompleted(int Generation, string TokenFingerprint, UsageOutcome Outcome);

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

        public sealed record UsageTimeout(int Generation);

        public sealed record ProactiveRefresh
        {
            public static ProactiveRefresh Instance { get; } = new();
        }

        public sealed record Retry
        {
            public static Retry Instance { get; } = new();
        }

        public sealed record RequestTimeout(int Generation);

        public sealed record WithdrawTimeout(int Generation);
    }
}
