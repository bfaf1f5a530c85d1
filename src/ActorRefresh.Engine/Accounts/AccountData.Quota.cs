using System.Text.Json.Serialization;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Usage;

namespace ActorRefresh.Engine.Accounts;

/// <summary>The quota rules of <see cref="AccountData"/>: utilisation, when usage is checked, and what a usage answer or an API response changes.</summary>
internal sealed partial record AccountData
{
    /// <summary>The highest utilisation of a window that has not reset by <paramref name="now"/>; 0 when none is known.</summary>
    public double UtilisationAt(DateTimeOffset now) => UtilisationOf(FiveHourUtilization, FiveHourResetsAt, SevenDayUtilization, SevenDayResetsAt, now);

    internal static double UtilisationOf(double? fiveHour, DateTimeOffset? fiveHourResetsAt, double? sevenDay, DateTimeOffset? sevenDayResetsAt, DateTimeOffset now)
    {
        double max = 0;
        if (fiveHour is { } f && !(fiveHourResetsAt <= now)) max = Math.Max(max, f);
        if (sevenDay is { } s && !(sevenDayResetsAt <= now)) max = Math.Max(max, s);
        return max;
    }

    /// <summary>True when a usage check may run now: a usage-capable provider is the caller's business; here: a fresh token,
    /// not blocked (unless a re-login recheck is pending), and quota checks not backing off.</summary>
    public bool CanCheckUsage(DateTimeOffset now, EngineOptions options) =>
        WantsUsageChecks && HasFreshToken(now, options) && !(QuotaCheckRetryAt > now);

    /// <summary>True while usage checks are scheduled at all: registered, not blocked (unless a re-login recheck is pending),
    /// and the usage endpoint has not refused these credentials for a missing scope.</summary>
    [JsonIgnore]
    public bool WantsUsageChecks => IsRegistered && (!IsBlocked || PolicyRecheckPending) && UsageMissingScope is null;

    /// <summary>What a usage endpoint answer does to the account (see the design's usage rows).</summary>
    public UsageDecision DecideUsage(UsageOutcome outcome, DateTimeOffset now, EngineOptions options, BackoffPolicy backoff)
    {
        var checkedState = this with { LastQuotaCheck = outcome.Kind };
        switch (outcome)
        {
            case UsageOutcome.QuotaObserved o:
                {
                    var s = o.Snapshot;
                    var observed = checkedState with
                    {
                        FiveHourUtilization = s.FiveHour?.Utilization ?? FiveHourUtilization,
                        FiveHourResetsAt = s.FiveHour is null ? FiveHourResetsAt : s.FiveHour.ResetsAt,
                        SevenDayUtilization = s.SevenDay?.Utilization ?? SevenDayUtilization,
                        SevenDayResetsAt = s.SevenDay is null ? SevenDayResetsAt : s.SevenDay.ResetsAt,
                        QuotaObservedAt = now,
                        QuotaCheckRetryAt = null,
                        QuotaCheckAttempt = 0,
                    };
                    var events = new List<IAccountEvent>();
                    if (IsBlocked && PolicyRecheckPending && BlockClass == ErrorClasses.PolicyRefused)
                        events.Add(new AccountUnblocked(now));
                    if (observed.IsOverThreshold(now, options) != IsOverThreshold(now, options))
                        events.Add(observed.QuotaEvent(now));
                    return new UsageDecision(observed, events);
                }
            case UsageOutcome.QuotaCheckRateLimited r:
                return new UsageDecision(checkedState with
                {
                    QuotaCheckAttempt = QuotaCheckAttempt + 1,
                    QuotaCheckRetryAt = backoff.NextAttemptAt(QuotaCheckAttempt + 1, now, r.RetryAt),
                }, []);
            case UsageOutcome.QuotaCheckTransient t:
                return new UsageDecision(checkedState with
                {
                    QuotaCheckAttempt = QuotaCheckAttempt + 1,
                    QuotaCheckRetryAt = backoff.NextAttemptAt(QuotaCheckAttempt + 1, now, t.RetryAt),
                }, []);
            case UsageOutcome.AccessTokenRejected:
                // Not a quota failure: no quota backoff. A pending policy recheck failed: the block stays, and an operator decides.
                if (IsBlocked)
                    return new UsageDecision(checkedState, PolicyRecheckPending
                        ? [new AccountBlocked(BlockClass!, (LastError ?? "blocked") + " (the new access token was rejected by the usage check)", now)]
                        : []);
                return new UsageDecision(checkedState, [], TokenRejected: true);
            case UsageOutcome.ScopeMissing m:
                {
                    // The token works for inference; only the usage endpoint is closed to it. Never a block, no quota backoff.
                    var events = new List<IAccountEvent>();
                    if (UsageMissingScope != m.Scope) events.Add(new UsageScopeMissing(m.Scope, now));
                    // A re-login recheck answered so says nothing about the organisation: the check that could lift the policy
                    // block cannot run with this token. The block stays (no recheck pending any more); an operator decides.
                    if (IsBlocked && PolicyRecheckPending)
                        events.Add(new AccountBlocked(BlockClass!,
                            $"{LastError ?? "blocked"} (not rechecked: the new access token lacks {m.Scope}, so the usage check cannot confirm the organisation allows OAuth; unblock once it does)", now));
                    return new UsageDecision(checkedState with { QuotaCheckRetryAt = null, QuotaCheckAttempt = 0 }, events);
                }
            case UsageOutcome.PolicyRefused p:
                // Organisation policy, not quota: blocked, and no quota backoff recorded.
                return new UsageDecision(checkedState with { QuotaCheckRetryAt = null, QuotaCheckAttempt = 0 },
                    [new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy (usage check): " + p.Message, now)]);
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome), outcome.Kind, "Unknown usage outcome.");
        }
    }

    /// <summary>What quota learnt from an API response's headers (or an API 429) does to the account.</summary>
    public UsageDecision DecidePassive(PassiveUsage usage, DateTimeOffset now, EngineOptions options)
    {
        var observed = usage.FiveHour is null && usage.SevenDay is null ? this : this with
        {
            FiveHourUtilization = usage.FiveHour?.Utilization ?? FiveHourUtilization,
            FiveHourResetsAt = usage.FiveHour is null ? FiveHourResetsAt : usage.FiveHour.ResetsAt ?? FiveHourResetsAt,
            SevenDayUtilization = usage.SevenDay?.Utilization ?? SevenDayUtilization,
            SevenDayResetsAt = usage.SevenDay is null ? SevenDayResetsAt : usage.SevenDay.ResetsAt ?? SevenDayResetsAt,
            QuotaObservedAt = now,
        };
        var events = new List<IAccountEvent>();
        if (observed.IsOverThreshold(now, options) != IsOverThreshold(now, options))
            events.Add(observed.QuotaEvent(now));
        if (usage.Rejected)
        {
            var until = usage.RetryAt ?? RetryAfterLimits.SafeAdd(now, options.ApiCooldownDefault);
            if (!(ApiCooldownUntil >= until))
                events.Add(new ApiCooldownStarted(until, now));
        }
        return new UsageDecision(observed, events);
    }

    private bool IsOverThreshold(DateTimeOffset now, EngineOptions options) => UtilisationAt(now) >= options.UtilisationThreshold;

    private QuotaRecorded QuotaEvent(DateTimeOffset now) =>
        new(FiveHourUtilization, FiveHourResetsAt, SevenDayUtilization, SevenDayResetsAt, now);

    /// <summary>The quota part of the status.</summary>
    public AccountUsage? ToUsage() =>
        QuotaObservedAt is null && ApiCooldownUntil is null && QuotaCheckRetryAt is null && LastQuotaCheck is null && UsageMissingScope is null
            ? null
            : new AccountUsage(FiveHourUtilization, FiveHourResetsAt, SevenDayUtilization, SevenDayResetsAt, QuotaObservedAt,
                ApiCooldownUntil, QuotaCheckRetryAt, LastQuotaCheck,
                UsageMissingScope is { } scope ? $"token lacks {scope}" : null);
}
