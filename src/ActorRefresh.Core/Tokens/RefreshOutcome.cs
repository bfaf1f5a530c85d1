namespace ActorRefresh.Core.Tokens;

/// <summary>
/// What one call to a token endpoint came to. Every possible answer (and every failure to get
/// one) maps to exactly one outcome (the classification table of the design);
/// the response classifier.
/// </summary>
public abstract record RefreshOutcome
{
    private protected RefreshOutcome() { }

    /// <summary>Short, stable name of the outcome kind, for metrics and logs (never carries a token).</summary>
    public abstract string Kind { get; }

    /// <summary>200 with a usable token. <see cref="RefreshToken"/> is null when the provider did not rotate it: keep the old one.</summary>
    /// <param name="AccessToken">The new access token.</param>
    /// <param name="ExpiresAt">When the access token expires.</param>
    /// <param name="RefreshToken">The rotated refresh token, or null to keep the old one.</param>
    /// <param name="Account">Account and organisation details when the provider sent them.</param>
    public sealed record Refreshed(Secret AccessToken, DateTimeOffset ExpiresAt, Secret? RefreshToken, TokenAccountInfo? Account) : RefreshOutcome
    {
        /// <summary>When the grant ends (<c>refresh_token_expires_in</c>), when the provider said so; null otherwise.</summary>
        public DateTimeOffset? RefreshTokenExpiresAt { get; init; }

        /// <inheritdoc />
        public override string Kind => "refreshed";
    }

    /// <summary>429: the provider asks us to wait; <see cref="RetryAt"/> is the (clamped) Retry-After when one was sent.</summary>
    /// <param name="RetryAt">When the provider allows the next attempt, if it said so.</param>
    public sealed record RateLimited(DateTimeOffset? RetryAt) : RefreshOutcome
    {
        /// <inheritdoc />
        public override string Kind => "rate_limited";
    }

    /// <summary>5xx, timeout, connection failure, unreadable 200 body, or a 403 with a non-JSON (WAF/CDN) body.</summary>
    /// <param name="Reason">Human-readable reason without any token text.</param>
    /// <param name="RetryAt">A Retry-After the answer carried, if any.</param>
    /// <param name="AnswerMayBeLost">
    /// True when the provider may have processed the request (and so rotated the refresh token) but its answer did not
    /// arrive in usable form: a timeout, a broken connection, an unreadable success body.
    /// </param>
    public sealed record Transient(string Reason, DateTimeOffset? RetryAt = null, bool AnswerMayBeLost = false) : RefreshOutcome
    {
        /// <inheritdoc />
        public override string Kind => "transient";
    }

    /// <summary>403 JSON <c>permission_error</c>: an organisation policy refuses OAuth; retrying will not help.</summary>
    /// <param name="Message">The provider's message.</param>
    public sealed record PolicyRefused(string Message) : RefreshOutcome
    {
        /// <inheritdoc />
        public override string Kind => "policy_refused";
    }

    /// <summary>400/401 <c>invalid_grant</c>, <c>invalid_client</c> or <c>unauthorized_client</c>: the grant is dead.</summary>
    /// <param name="Error">The OAuth error code.</param>
    /// <param name="Description">The provider's error description, if any.</param>
    public sealed record GrantRejected(string Error, string? Description) : RefreshOutcome
    {
        /// <inheritdoc />
        public override string Kind => "grant_rejected";
    }

    /// <summary>Any other 4xx: most likely a configuration error on our side.</summary>
    /// <param name="Status">The HTTP status code.</param>
    /// <param name="Message">A message taken from the body (truncated, never token text).</param>
    public sealed record Rejected(int Status, string Message) : RefreshOutcome
    {
        /// <inheritdoc />
        public override string Kind => "rejected";
    }
}

/// <summary>Account and organisation details a token endpoint may return with a token (Claude does).</summary>
/// <param name="AccountId">Provider account id (uuid).</param>
/// <param name="Email">Account e-mail address.</param>
/// <param name="OrganizationId">Organisation id (uuid).</param>
/// <param name="OrganizationName">Organisation display name.</param>
public sealed record TokenAccountInfo(string? AccountId, string? Email, string? OrganizationId, string? OrganizationName);
