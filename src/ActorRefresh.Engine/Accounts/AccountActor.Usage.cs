using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Usage;
using Akka.Actor;
using Akka.Event;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Usage (quota) checks and passive usage reports of <see cref="AccountActor"/>.</summary>
internal sealed partial class AccountActor
{
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
        if (!_data.WantsUsageChecks || !UsageEnabled(out _))
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
        if (_usageCheck is not null || !UsageEnabled(out _)) return;
        if (_currentTokenRejected || !_data.CanCheckUsage(Now, _options))
        {
            // No fresh token (a refresh will bring one) or checks are backing off: look again later.
            ArmUsageCheck();
            return;
        }
        var check = _usageCheck = new UsageCheck(NextOperationId());
        // The usage checks' own permits (never the refreshes'), owned from the moment they are asked for: a stop before
        // the answer is read still releases it (PostStop → AbandonUsageCheck).
        var permit = check.RequestPermit(_services.UsageLimiter, _data.Provider!);
        var id = check.Id;
        permit.Granted.PipeTo(Self, success: granted => new UsageLimiterAnswered(id, permit, granted));
    }

    /// <summary>The usage check under way; null outside one, and for a message of a check that has ended.</summary>
    private UsageCheck? RunningUsageCheck(int checkId) => _usageCheck is { } check && check.Id == checkId ? check : null;

    private void OnUsageLimiterAnswered(UsageLimiterAnswered answer)
    {
        if (RunningUsageCheck(answer.Check) is not { } check || !check.Holds(answer.Permit))
        {
            answer.Permit.Dispose();
            return;
        }
        if (!answer.Granted)
        {
            FinishUsage(new UsageOutcome.QuotaCheckTransient("usage-check queue of this node is full"), null);
            return;
        }
        if (!UsageEnabled(out var profile) || _currentTokenRejected || !_data.CanCheckUsage(Now, _options))
        {
            // The account changed while the check waited for its permit.
            EndUsageCheck();
            ArmUsageCheck();
            return;
        }
        var token = _data.AccessToken!;
        var fingerprint = token.Fingerprint;
        var id = check.Id;
        Timers.StartSingleTimer(Timer.UsageTimeoutKey, new Timer.UsageTimeout(id), profile.RequestTimeout + _options.RequestTimeoutGrace);
        _services.UsageClient!.CheckAsync(profile, token, check.StartCall(Now)).PipeTo(Self,
            success: outcome => new UsageCompleted(id, fingerprint, outcome),
            failure: ex => new UsageCompleted(id, fingerprint, new UsageOutcome.QuotaCheckTransient("usage call failed: " + ex.GetType().Name)));
    }

    private void OnUsageCompleted(UsageCompleted completed)
    {
        if (RunningUsageCheck(completed.Check) is null) return; // timed out or abandoned
        FinishUsage(completed.Outcome, completed.TokenFingerprint);
    }

    private void OnUsageTimeout(Timer.UsageTimeout timeout)
    {
        if (RunningUsageCheck(timeout.Check) is not { } check) return;
        check.CancelCall();
        FinishUsage(new UsageOutcome.QuotaCheckTransient("no answer from the usage endpoint in time"), null);
    }

    private void AbandonUsageCheck()
    {
        // Unlike a finished check, the request may still be running: cancel it before letting go of it.
        _usageCheck?.CancelCall();
        EndUsageCheck();
    }

    /// <summary>Lets go of the check in flight (timeout, lease, cancellation source); a late answer of it is then stale.</summary>
    private void EndUsageCheck()
    {
        Timers.Cancel(Timer.UsageTimeoutKey);
        _usageCheck?.Release();
        _usageCheck = null;
    }

    private void FinishUsage(UsageOutcome outcome, string? tokenFingerprint)
    {
        var callStartedAt = _usageCheck?.CallStartedAt;
        EndUsageCheck();
        _services.Metrics.UsageCheck(_accountId, _data.Provider ?? "", outcome.Kind, outcome is UsageOutcome.QuotaObserved, callStartedAt, Now);

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
                _log.Info("Account {AccountId}: usage check failed ({Outcome}); quota checks wait until {RetryAt:O}.", _accountId, outcome.Kind, _data.QuotaCheckRetryAt);
                break;
            case UsageOutcome.AccessTokenRejected:
                _log.Info("Account {AccountId}: the usage endpoint rejected the access token.", _accountId);
                break;
            case UsageOutcome.ScopeMissing m:
                // Once per credentials: no further check runs until new credentials arrive.
                _log.Info("Account {AccountId}: usage unavailable (token lacks {Scope}); the account keeps serving, and usage is checked again when its credentials change.", _accountId, m.Scope);
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
        if (passive.Rejected && _usageCheck is null)
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
                _log.Info("Account {AccountId}: the API refused a request for quota; pools avoid the account until {Until:O}.", _accountId, c.Until);
            MaybeSnapshot();
            if (!ReferenceEquals(persisted, last)) return;
            PublishStatus(_refreshing);
            sender.Tell(new StatusReply(Status()));
        });
    }
}
