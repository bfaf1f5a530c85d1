using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Credentials;
using Akka.Actor;
using Akka.Event;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Token requests and the refresh sequence of <see cref="AccountActor"/>.</summary>
internal sealed partial class AccountActor
{
    // ---- the refresh attempt ------------------------------------------------------------------------
    // One RefreshAttempt from StartRefresh to its journaled outcome; its steps (RefreshStep) and their late messages are
    // in docs/design.md, "Mechanics". Only after the outcome is journaled are the callers answered and the token published.

    private void StartRefresh(IActorRef? caller, string why)
    {
        if (_draining)
        {
            // Shutting down: a refresh started now could not journal its outcome.
            caller?.Tell(new Status.Failure(new Region.AccountUnavailableException(_accountId)));
            return;
        }
        // Only reached from states other than Refreshing, so no attempt is under way (it ends before its state does).
        var attempt = _attempt = new RefreshAttempt(NextOperationId());
        if (caller is not null) attempt.Waiters.Add(caller);
        if (_data.IsStatic)
        {
            // The one guard every path to a refresh passes (request, proactive timer, backoff end, rejection, usage check,
            // operator): a long-lived token has no refresh token, so it is blocked or goes on serving instead.
            SettleStatic();
            return;
        }
        // Whether the refresh token was in doubt before this attempt: a failure before the upstream call (full queue) keeps
        // that doubt. Set again when the intent is journaled (an adopted pair may have settled it meanwhile).
        attempt.InterruptedBefore = _data.InFlightRefresh is not null;
        if (!_services.Providers.TryGet(_data.Provider!, out _))
        {
            // The provider vanished from configuration: a configuration error, retried after the long delay.
            PersistAndEnter(new RefreshFailed(ErrorClasses.Rejected, $"provider '{_data.Provider}' is not configured", _services.Backoff.RejectedAttemptAt(Now), false, Now,
                TokenMaybeSpent: attempt.InterruptedBefore), AnswerWaiters);
            return;
        }
        _log.Debug("Account {AccountId}: refreshing ({Trigger}).", _accountId, why);
        _services.ReadSide.WithdrawRefusal(_accountId);
        Timers.Cancel(Timer.ProactiveRefreshKey);
        Timers.Cancel(Timer.RetryKey);
        Become(Refreshing);
        PublishStatus(refreshing: true);

        if (_services.Cluster is null)
        {
            // One node: the read side is this process's; the account keeps it current synchronously.
            if (_currentTokenRejected || !_data.HasFreshToken(Now, _options))
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true, FallbackExpiry());
            AcquirePermit(attempt);
            return;
        }
        // Several nodes: before the token can be replaced upstream, every node must have stopped serving it from its
        // read side (the account itself goes on answering with it while it is fresh). Wait for their confirmations.
        var confirmations = _fanout.WithdrawConfirmed(_accountId, LastSequenceNr, Self, FallbackExpiry());
        if (confirmations == 0)
        {
            AcquirePermit(attempt);
            return;
        }
        attempt.AwaitConfirmations(confirmations);
        Timers.StartSingleTimer(Timer.WithdrawTimeoutKey, new Timer.WithdrawTimeout(attempt.Id), _services.Cluster.EffectiveWithdrawTimeout);
    }

    /// <summary>The refresh attempt under way; null outside one, and for a message of an attempt that has ended.</summary>
    private RefreshAttempt? Running(int attemptId) =>
        _attempt is { Step: not RefreshStep.JournalingOutcome } attempt && attempt.Id == attemptId ? attempt : null;

    /// <summary>A replica confirmed it dropped the old token (step 1).</summary>
    private void OnWithdrawConfirmed(TokenWithdrawConfirmed confirmed)
    {
        if (_attempt is { Step: RefreshStep.Withdrawing } attempt && confirmed.Version == LastSequenceNr * 2 + 1 && attempt.Confirmed())
        {
            Timers.Cancel(Timer.WithdrawTimeoutKey);
            AcquirePermit(attempt);
        }
    }

    private void OnWithdrawTimeout(Timer.WithdrawTimeout timeout)
    {
        if (Running(timeout.Attempt) is not { Step: RefreshStep.Withdrawing } attempt) return;
        _log.Warning("Account {AccountId}: {PendingNodes} node(s) did not confirm dropping the old token in time; refreshing anyway.", _accountId, attempt.StopAwaitingConfirmations());
        AcquirePermit(attempt);
    }

    private void AcquirePermit(RefreshAttempt attempt)
    {
        // Owned from the moment it is asked for, so a stop before the answer is read still releases it (PostStop).
        var permit = attempt.RequestPermit(_services.Limiter, _data.Provider!);
        var id = attempt.Id;
        permit.Granted.PipeTo(Self, success: granted => new LimiterAnswered(id, permit, granted));
    }

    private void OnLimiterAnswered(LimiterAnswered answer)
    {
        if (Running(answer.Attempt) is not { } attempt || !attempt.Holds(answer.Permit))
        {
            answer.Permit.Dispose();
            return;
        }
        if (!answer.Granted)
        {
            FinishRefresh(new RefreshOutcome.Transient("refresh queue of this node is full"), attempt);
            return;
        }

        if (_data.CredentialsFile is { } path)
        {
            // Another program (the Claude Code CLI) may have rotated the pair in the file: re-read it before
            // spending a refresh token that may already be consumed.
            attempt.MoveTo(RefreshStep.ReadingFile);
            var id = attempt.Id;
            CredentialsFileSync.ReadAsync(path).PipeTo(Self, success: snapshot => new PreRefreshFileRead(id, snapshot));
            return;
        }
        BeginUpstreamCall(attempt);
    }

    private void OnPreRefreshFileRead(PreRefreshFileRead read)
    {
        if (Running(read.Attempt) is not { } attempt) return;
        var adopt = read.Snapshot.Credentials is { } found && _data.DecideCredentialsFile(found, Now) == CredentialsFileDecision.Adopt;
        _services.Metrics.CredentialsFileRead(adopt ? "adopted" : read.Snapshot.Credentials is null ? "unreadable" : "unchanged");
        if (read.Snapshot.Credentials is not { } file || !adopt)
        {
            if (read.Snapshot.Error is { } error) _log.Warning("Account {AccountId}: credentials file not read before refresh: {Error}", _accountId, error);
            NoteCredentialsFile(read.Snapshot.Error);
            BeginUpstreamCall(attempt);
            return;
        }
        Persist(_data.AdoptionOf(file, Now, MaxGrantLifetime()), e =>
        {
            _data = _data.Apply(e);
            _currentTokenRejected = false;
            _log.Info("Account {AccountId}: adopted a newer token pair from its credentials file instead of refreshing.", _accountId);
            MaybeSnapshot();
            if (_data.HasFreshToken(Now, _options))
                EndRefreshWithoutCall();
            else
                BeginUpstreamCall(attempt);
        });
    }

    /// <summary>The refresh became unnecessary (a newer pair was adopted): release the permit and answer the callers.</summary>
    private void EndRefreshWithoutCall()
    {
        _attempt?.Release();
        EnterJournaledState();
        AnswerWaiters();
        AnswerDrains();
        Stash.UnstashAll();
    }

    /// <summary>The intent is journaled and the token endpoint called (or being called) in this attempt.</summary>
    private bool UpstreamCallStarted => _attempt is { CallStarted: true };

    /// <summary>
    /// A drain or a stop (hand-off, passivation) came before the upstream call: end the attempt without calling. The intent
    /// stays unopened (the refresh token is not in doubt), the permit is released, and waiting callers are told the account is
    /// unavailable, so they ask again and are served by the account's next incarnation (after a hand-off, on its new node).
    /// </summary>
    private void AbandonRefreshBeforeCall()
    {
        _log.Info("Account {AccountId}: a refresh not yet sent is dropped: the account is {StopReason}.", _accountId, _stopWhenIdle ? "stopping (hand-off or passivation)" : "draining for shutdown");
        Timers.Cancel(Timer.WithdrawTimeoutKey);
        // A permit, confirmation or file read still on its way now belongs to no attempt.
        var attempt = _attempt;
        _attempt = null;
        attempt?.Release();
        foreach (var waiter in attempt?.Waiters ?? []) waiter.Tell(new Status.Failure(new Region.AccountUnavailableException(_accountId)));
        EnterJournaledState();
        AnswerDrains();
        Stash.UnstashAll();
        if (_stopWhenIdle) Context.Stop(Self);
    }

    private void BeginUpstreamCall(RefreshAttempt attempt)
    {
        if (_draining || _stopWhenIdle)
        {
            // Reached from a continuation that was already under way when the drain or stop arrived.
            AbandonRefreshBeforeCall();
            return;
        }
        if (!MayActAsOwner())
        {
            // This node has heard no majority of the cluster lately (it was frozen or cut off): the account may have a new
            // incarnation elsewhere. Spend nothing; look again shortly (the node is downed and stops, or hears the others).
            if (!Timers.IsTimerActive(Timer.OwnershipRecheckKey))
                _log.Warning("Account {AccountId}: this node cannot confirm it is still a member in good standing (it hears no majority of the cluster); the refresh waits.", _accountId);
            attempt.MoveTo(RefreshStep.ConfirmingOwnership);
            Timers.StartSingleTimer(Timer.OwnershipRecheckKey, new Timer.OwnershipRecheck(attempt.Id), OwnershipRecheckInterval);
            return;
        }
        Testing.CrashPoints.At(Testing.CrashPoints.BeforeIntent);
        var refreshToken = _data.RefreshToken!;
        _services.Providers.TryGet(_data.Provider!, out var profile);
        attempt.InterruptedBefore = _data.InFlightRefresh is not null;
        attempt.MoveTo(RefreshStep.JournalingIntent);
        // The deadline is the request timer's: by then this incarnation has given the call up, so a successor may call.
        var now = Now;
        Persist(new RefreshStarted(refreshToken.Fingerprint, now, now + profile!.RequestTimeout + _options.RequestTimeoutGrace), e =>
        {
            _data = _data.Apply(e);
            Testing.CrashPoints.At(Testing.CrashPoints.AfterIntent);
            if (!MayActAsOwner())
            {
                // The node was frozen or cut off while the intent was being journaled: a successor may already be waiting out
                // this intent, or past it. Not sent (the intent is closed as a failure that spent nothing).
                _log.Warning("Account {AccountId}: the refresh is not sent: this node lost the cluster while its intent was journaled.", _accountId);
                FinishRefresh(new RefreshOutcome.Transient("refresh not sent: this node could not confirm it still owns the account in time"), attempt);
                return;
            }
            if (_services.WaitsOutRecoveredIntents && !_data.LeavesTimeToCall(Now, profile.RequestTimeout))
            {
                // Journaling the intent ate more than half the call's window before the deadline a successor waits for.
                // Not sent (closed as a failure that spent nothing; the backoff retries it).
                _log.Warning("Account {AccountId}: the refresh is not sent: journaling its intent took more than half of the request window.", _accountId);
                FinishRefresh(new RefreshOutcome.Transient("refresh not sent: its intent took too long to journal"), attempt);
                return;
            }
            CallTokenEndpoint(attempt, profile, refreshToken, e.Deadline);
        });
    }

    /// <summary>How often a refresh held by <see cref="MayActAsOwner"/> looks again (a fraction of a heartbeat pause).</summary>
    private static readonly TimeSpan OwnershipRecheckInterval = TimeSpan.FromMilliseconds(250);

    private void CallTokenEndpoint(RefreshAttempt attempt, ProviderProfile profile, Secret refreshToken, DateTimeOffset? deadline)
    {
        var now = Now;
        var cancel = attempt.StartCall(now);
        // In cluster mode the call is given up at the intent's deadline, which a successor waits for (never later than the
        // full window; never sooner than half the RequestTimeout, see LeavesTimeToCall). Standalone there is no successor:
        // the call gets the full window, so a slow journal write does not cut it short and turn an answered refresh into
        // "the answer may be lost".
        var window = profile.RequestTimeout + _options.RequestTimeoutGrace;
        var left = _services.WaitsOutRecoveredIntents && deadline is { } d && d - now < window ? Delay(d, now) : window;
        var id = attempt.Id;
        Timers.StartSingleTimer(Timer.RequestTimeoutKey, new Timer.RequestTimeout(id), left);
        var spent = refreshToken.Fingerprint;
        _services.TokenClient.RefreshAsync(profile, refreshToken, cancel).PipeTo(Self,
            success: outcome => new RefreshCompleted(id, spent, outcome),
            // The call failed in a way the client did not classify: the request may have reached the provider, which may
            // have rotated, so the refresh token counts as possibly spent.
            failure: ex => new RefreshCompleted(id, spent, new RefreshOutcome.Transient("token endpoint call failed: " + ex.GetType().Name, AnswerMayBeLost: true)));
    }

    private void OnRefreshCompleted(RefreshCompleted completed)
    {
        if (Running(completed.Attempt) is not { } attempt)
        {
            // A newer attempt is under way; it decides the state. The late answer is only noted.
            _log.Warning("Account {AccountId}: ignoring a token endpoint answer ({Outcome}) that arrived after its timeout.", _accountId, completed.Outcome.Kind);
            return;
        }
        Testing.CrashPoints.At(Testing.CrashPoints.AfterUpstream);
        FinishRefresh(completed.Outcome, attempt);
    }

    private void OnRequestTimeout(Timer.RequestTimeout timeout)
    {
        if (Running(timeout.Attempt) is not { } attempt) return;
        attempt.CancelCall();
        FinishRefresh(new RefreshOutcome.Transient("no answer from the token endpoint in time", AnswerMayBeLost: true), attempt);
    }

    private void OnOwnershipRecheck(Timer.OwnershipRecheck recheck)
    {
        if (Running(recheck.Attempt) is { Step: RefreshStep.ConfirmingOwnership } attempt) BeginUpstreamCall(attempt);
    }

    /// <summary>Step 7: journals the outcome; the attempt ends with the last event's callback (a late answer is now late).</summary>
    private void FinishRefresh(RefreshOutcome outcome, RefreshAttempt attempt)
    {
        Timers.Cancel(Timer.RequestTimeoutKey);
        attempt.Release();
        attempt.MoveTo(RefreshStep.JournalingOutcome);

        var now = Now;
        _services.Metrics.RefreshCompleted(_accountId, _data.Provider ?? "", outcome.Kind, outcome is RefreshOutcome.Refreshed, attempt.CallStartedAt, now);
        var events = OutcomeEvents(_data.DecideOutcome(outcome, now, _services.Backoff, attempt.InterruptedBefore));
        var last = events[^1];
        PersistAll(events, persisted =>
        {
            _data = _data.Apply(persisted);
            if (ReferenceEquals(persisted, events[0])) Testing.CrashPoints.At(Testing.CrashPoints.AfterOutcome);
            if (persisted is TokensRefreshed)
            {
                _currentTokenRejected = false;
                WriteCredentialsFile();
            }
            LogOutcome(persisted);
            if (!ReferenceEquals(persisted, last)) return;
            MaybeSnapshot();
            EnterJournaledState();
            AnswerWaiters();
            AnswerDrains();
            Stash.UnstashAll();
            if (_stopWhenIdle) Context.Stop(Self);
        });
    }

    /// <summary>The outcome event, followed by a backoff when a refresh brought a token already past its refresh point.</summary>
    private IAccountEvent[] OutcomeEvents(IAccountEvent outcome) =>
        outcome is TokensRefreshed t && _data.DecideArrival(t, _services.Backoff) is { } backoff ? [t, backoff] : [outcome];

    /// <summary>
    /// An answer that arrived after the account gave up waiting. If it carries a rotation of the refresh token
    /// the account still holds, adopt it: dropping it would lose the new pair the provider already issued.
    /// </summary>
    private void OnLateRefreshCompleted(RefreshCompleted late)
    {
        if (late.Outcome is RefreshOutcome.Refreshed refreshed
            && _data.RefreshToken is { } current && current.Fingerprint == late.SpentFingerprint)
        {
            _log.Warning("Account {AccountId}: adopting a refresh answer that arrived after its timeout.", _accountId);
            var events = OutcomeEvents(new TokensRefreshed(refreshed.AccessToken, refreshed.ExpiresAt, refreshed.RefreshToken, Now)
            {
                GrantExpiresAt = refreshed.RefreshTokenExpiresAt,
            });
            var last = events[^1];
            PersistAll(events, persisted =>
            {
                _data = _data.Apply(persisted);
                LogOutcome(persisted);
                if (!ReferenceEquals(persisted, last)) return;
                MaybeSnapshot();
                EnterJournaledState();
                AnswerWaiters();
            });
        }
    }

    private void AnswerDrains()
    {
        foreach (var drain in _drains) drain.Tell(Drained.Instance);
        _drains.Clear();
    }


    /// <summary>A rate-limit wait longer than this is worth its own log line (the old clamp was an hour).</summary>
    private static readonly TimeSpan LongRateLimit = TimeSpan.FromHours(1);

    private void LogOutcome(IAccountEvent e)
    {
        switch (e)
        {
            case TokensRefreshed t:
                _log.Info("Account {AccountId}: refreshed; access token valid until {ExpiresAt:O}.", _accountId, t.ExpiresAt);
                break;
            case RefreshFailed f when f.ErrorClass == ErrorClasses.Rejected:
                _log.Error("Account {AccountId}: {Reason}; next attempt at {RetryAt:O}.", _accountId, f.Message, f.RetryAt);
                break;
            case RefreshFailed f when f.ErrorClass == ErrorClasses.ExpiredOnArrival:
                _log.Warning("Account {AccountId}: the new access token is already past its refresh point (it expires at {ExpiresAt:O}); the new pair is kept and the next refresh waits until {RetryAt:O}.",
                    _accountId, _data.ExpiresAt, f.RetryAt);
                break;
            case RefreshFailed f when f.RateLimit && f.RetryAt - f.At > LongRateLimit:
                // Said once, when the wait begins: no refresh of this account until then, whoever asks.
                _log.Warning("Account {AccountId}: the token endpoint asked to wait {Wait} (until {RetryAt:O}); no refresh before then (the longest wait honoured is {LongestWait}).",
                    _accountId, f.RetryAt - f.At, f.RetryAt, Core.Backoff.RetryAfterLimits.HardCap);
                break;
            case RefreshFailed f:
                // Logged once per failure, never per request that meets the backoff.
                _log.Warning("Account {AccountId}: backing off until {RetryAt:O} ({ErrorClass}: {Reason}).", _accountId, f.RetryAt, f.ErrorClass, f.Message);
                break;
            case AccountBlocked b:
                _log.Error("Account {AccountId}: blocked ({ErrorClass}): {Reason}", _accountId, b.ErrorClass, b.Reason);
                break;
        }
    }
}
