namespace ActorRefresh.Core.Usage;

/// <summary>
/// What one call to a provider's usage (quota) endpoint came to. Separate from refresh outcomes on purpose:
/// a quota-check failure never arms the refresh backoff, and a refresh failure is never taken for a quota state.
/// Every answer (and every failure to get one) maps to exactly one outcome. No outcome carries a token.
/// </summary>
public abstract record UsageOutcome
{
    private protected UsageOutcome() { }

    /// <summary>Short, stable name of the outcome kind, for metrics and logs.</summary>
    public abstract string Kind { get; }

    /// <summary>200: the account's quota as the provider reports it.</summary>
    /// <param name="Snapshot">What the answer carried (missing parts are null).</param>
    public sealed record QuotaObserved(UsageSnapshot Snapshot) : UsageOutcome
    {
        /// <inheritdoc />
        public override string Kind => "observed";
    }

    /// <summary>429 from the usage endpoint: back off the quota checks only; the account stays usable.</summary>
    /// <param name="RetryAt">The (clamped) Retry-After, if one was sent.</param>
    public sealed record QuotaCheckRateLimited(DateTimeOffset? RetryAt) : UsageOutcome
    {
        /// <inheritdoc />
        public override string Kind => "rate_limited";
    }

    /// <summary>401: the access token used for the check is rejected (expired or revoked): the account should refresh.</summary>
    /// <param name="Message">The provider's message (never token text).</param>
    public sealed record AccessTokenRejected(string Message) : UsageOutcome
    {
        /// <inheritdoc />
        public override string Kind => "token_rejected";
    }

    /// <summary>
    /// 403 JSON <c>permission_error</c> with the organisation-policy message ("OAuth authentication is currently not allowed
    /// for this organization"): the organisation refuses OAuth. Not a quota state.
    /// </summary>
    /// <param name="Message">The provider's message.</param>
    public sealed record PolicyRefused(string Message) : UsageOutcome
    {
        /// <inheritdoc />
        public override string Kind => "policy_refused";
    }

    /// <summary>
    /// 403 JSON <c>permission_error</c> "OAuth token does not meet scope requirement &lt;scope&gt;": the token's grant lacks the
    /// scope the usage endpoint needs (a <c>claude setup-token</c> token lacks <c>user:profile</c>). Inference works: the
    /// account keeps serving, only usage checks are unavailable for these credentials. Neither policy nor quota.
    /// </summary>
    /// <param name="Scope">The scope the endpoint asked for (only scope characters kept), e.g. <c>user:profile</c>.</param>
    /// <param name="Message">The provider's message.</param>
    public sealed record ScopeMissing(string Scope, string Message) : UsageOutcome
    {
        /// <inheritdoc />
        public override string Kind => "scope_missing";
    }

    /// <summary>
    /// The check failed in a way worth retrying later: any other 403 (HTML from a CDN or WAF, an unknown JSON shape, a
    /// <c>permission_error</c> with another message), 5xx, timeout,
    /// connection failure, unreadable body, or any other unexpected status.
    /// </summary>
    /// <param name="Reason">Human-readable reason without any token text.</param>
    /// <param name="RetryAt">A Retry-After the answer carried, if any.</param>
    public sealed record QuotaCheckTransient(string Reason, DateTimeOffset? RetryAt = null) : UsageOutcome
    {
        /// <inheritdoc />
        public override string Kind => "transient";
    }
}

/// <summary>One quota window (five-hour, seven-day, …).</summary>
/// <param name="Utilization">Used share of the window, 0–100 (values outside are clamped).</param>
/// <param name="ResetsAt">When the window resets, if known.</param>
public sealed record UsageWindow(double Utilization, DateTimeOffset? ResetsAt);

/// <summary>One entry of the usage answer's <c>limits[]</c>.</summary>
/// <param name="Kind">The limit's kind as sent (e.g. <c>five_hour</c>).</param>
/// <param name="Percent">Used share, 0–100.</param>
/// <param name="ResetsAt">When it resets, if known.</param>
public sealed record UsageLimit(string Kind, double Percent, DateTimeOffset? ResetsAt);

/// <summary>An account's quota at one moment. Any part the provider did not send is null or empty.</summary>
/// <param name="FiveHour">The five-hour window.</param>
/// <param name="SevenDay">The seven-day window.</param>
/// <param name="Limits">Every entry of <c>limits[]</c> that could be read.</param>
/// <param name="ObservedAt">When the answer was received.</param>
public sealed record UsageSnapshot(UsageWindow? FiveHour, UsageWindow? SevenDay, IReadOnlyList<UsageLimit> Limits, DateTimeOffset ObservedAt)
{
    /// <summary>The highest utilisation of any window or limit that has not reset by <paramref name="now"/>; 0 when none is known.</summary>
    public double MaxUtilization(DateTimeOffset now)
    {
        double max = 0;
        void Take(double value, DateTimeOffset? resetsAt)
        {
            if (resetsAt is { } r && r <= now) return;
            if (value > max) max = value;
        }
        if (FiveHour is { } f) Take(f.Utilization, f.ResetsAt);
        if (SevenDay is { } s) Take(s.Utilization, s.ResetsAt);
        foreach (var l in Limits) Take(l.Percent, l.ResetsAt);
        return max;
    }
}
