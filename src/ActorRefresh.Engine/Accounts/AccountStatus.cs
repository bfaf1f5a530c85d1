using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Engine.Accounts;

/// <summary>The four states of an account (see the design's state table).</summary>
public enum AccountState
{
    /// <summary>Holds an access token it will hand out; refreshes proactively before expiry.</summary>
    Valid,
    /// <summary>A refresh is queued or in flight; callers wait for its one result.</summary>
    Refreshing,
    /// <summary>The last refresh failed; no upstream call until <see cref="AccountStatus.RetryAt"/>.</summary>
    BackingOff,
    /// <summary>Refused by policy or a dead grant; nothing happens until new credentials or an unblock.</summary>
    PolicyBlocked,
}

/// <summary>A valid access token and when it expires.</summary>
/// <param name="Value">The token (its <c>ToString</c> shows a fingerprint only).</param>
/// <param name="ExpiresAt">When the provider said it expires.</param>
public sealed record AccessToken(Secret Value, DateTimeOffset ExpiresAt);

/// <summary>Counters kept per account (journaled with the account).</summary>
/// <param name="Refreshes">Successful refreshes.</param>
/// <param name="Failures">Failed refresh attempts.</param>
/// <param name="RateLimited">Refresh attempts answered with 429.</param>
public sealed record AccountCounters(long Refreshes, long Failures, long RateLimited)
{
    /// <summary>All zero.</summary>
    public static AccountCounters Zero { get; } = new(0, 0, 0);
}

/// <summary>What an operator may see about an account. Never carries a token.</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="Provider">The provider profile name.</param>
/// <param name="State">Current state.</param>
/// <param name="AccessTokenExpiresAt">Expiry of the current access token, if there is one.</param>
/// <param name="NextRefreshAt">When the proactive refresh is due, when in Valid.</param>
/// <param name="RetryAt">When the next attempt is allowed, when backing off.</param>
/// <param name="LastErrorClass">Kind of the last failure (an outcome kind such as <c>rate_limited</c>), if any.</param>
/// <param name="LastError">Human-readable last failure or block reason, if any.</param>
/// <param name="RefreshTokenMaybeSpent">
/// True when a refresh was interrupted (crash) after its intent was journaled, or its answer may have been lost, and
/// nothing has settled it since (a successful refresh, new credentials, or the dead grant reported as interrupted_refresh).
/// </param>
/// <param name="Counters">Per-account counters.</param>
/// <param name="Version">Journal sequence number the status reflects.</param>
/// <param name="Usage">What is known of the account's quota, if anything.</param>
/// <param name="CredentialsFileError">
/// Why the last read or write of the account's synced Claude credentials file failed (e.g. a folder on the way became a
/// symbolic link), or null. Names no path and no token; the account keeps serving from its journal.
/// </param>
public sealed record AccountStatus(
    string AccountId,
    string Provider,
    AccountState State,
    DateTimeOffset? AccessTokenExpiresAt,
    DateTimeOffset? NextRefreshAt,
    DateTimeOffset? RetryAt,
    string? LastErrorClass,
    string? LastError,
    bool RefreshTokenMaybeSpent,
    AccountCounters Counters,
    long Version,
    AccountUsage? Usage = null,
    string? CredentialsFileError = null)
{
    /// <summary>
    /// When the account's grant ends, if known: what the provider or credentials file said, the provider's
    /// <c>MaxGrantLifetime</c> after the login, or for a long-lived token (no refresh token) its expiry.
    /// </summary>
    public DateTimeOffset? GrantExpiresAt { get; init; }

    /// <summary>The most urgent grant-expiry warning raised for that grant end (30, 7 or 1 days), or null.</summary>
    public int? GrantNoticeDays { get; init; }
}

/// <summary>What is known of an account's quota (from usage checks and from API responses callers reported).</summary>
/// <param name="FiveHourUtilization">Utilisation of the five-hour window, 0–100, if known.</param>
/// <param name="FiveHourResetsAt">When the five-hour window resets, if known.</param>
/// <param name="SevenDayUtilization">Utilisation of the seven-day window, 0–100, if known.</param>
/// <param name="SevenDayResetsAt">When the seven-day window resets, if known.</param>
/// <param name="ObservedAt">When the quota was last observed.</param>
/// <param name="ApiCooldownUntil">The API refused a request for quota: the account is avoided by pools until then.</param>
/// <param name="QuotaCheckRetryAt">Usage checks are backing off until then (never affects refreshes or leases).</param>
/// <param name="LastCheck">Outcome kind of the last usage check (observed, rate_limited, token_rejected, policy_refused, scope_missing, transient).</param>
/// <param name="Unavailable">
/// Why usage checks do not run for the current credentials (e.g. <c>token lacks user:profile</c>), or null when they do.
/// The account keeps serving; new credentials bring the checks back.
/// </param>
public sealed record AccountUsage(
    double? FiveHourUtilization,
    DateTimeOffset? FiveHourResetsAt,
    double? SevenDayUtilization,
    DateTimeOffset? SevenDayResetsAt,
    DateTimeOffset? ObservedAt,
    DateTimeOffset? ApiCooldownUntil,
    DateTimeOffset? QuotaCheckRetryAt,
    string? LastCheck,
    string? Unavailable = null)
{
    /// <summary>The highest utilisation of a window that has not reset by <paramref name="now"/>; 0 when none is known.</summary>
    public double UtilisationAt(DateTimeOffset now) =>
        AccountData.UtilisationOf(FiveHourUtilization, FiveHourResetsAt, SevenDayUtilization, SevenDayResetsAt, now);

    /// <summary>
    /// When utilisation falls below <paramref name="threshold"/> again: the latest reset of the windows at or over it
    /// (null when none is over it, or when an over-threshold window's reset is unknown).
    /// </summary>
    public DateTimeOffset? BelowThresholdAt(double threshold, DateTimeOffset now, out bool over)
    {
        var isOver = false;
        DateTimeOffset? at = null;
        var unknown = false;
        void Check(double? value, DateTimeOffset? resetsAt)
        {
            if (value is not { } v || v < threshold || resetsAt <= now) return;
            isOver = true;
            if (resetsAt is { } r) at = at is { } a && a > r ? a : r;
            else unknown = true;
        }
        Check(FiveHourUtilization, FiveHourResetsAt);
        Check(SevenDayUtilization, SevenDayResetsAt);
        over = isOver;
        return unknown ? null : at;
    }
}

/// <summary>Credentials to register an account with, or to replace its credentials with.</summary>
/// <param name="AccountId">Account id: 1–128 characters of letters, digits, '.', '_', '-', '@'.</param>
/// <param name="Provider">Provider profile name.</param>
/// <param name="RefreshToken">
/// The refresh token; null for a long-lived access token (<c>claude setup-token</c>), which then needs
/// <paramref name="AccessToken"/> and <paramref name="ExpiresAt"/>, is served until it expires and never refreshed.
/// </param>
/// <param name="AccessToken">A current access token, if known.</param>
/// <param name="ExpiresAt">Expiry of <paramref name="AccessToken"/>; required with it.</param>
/// <param name="CredentialsFile">A Claude <c>.credentials.json</c> path to keep in sync, if any.</param>
public sealed record AccountCredentials(
    string AccountId,
    string Provider,
    Secret? RefreshToken,
    Secret? AccessToken = null,
    DateTimeOffset? ExpiresAt = null,
    string? CredentialsFile = null)
{
    /// <summary>When the grant ends, when the provider or a credentials file said so (<c>refreshTokenExpiresAt</c>); null otherwise.</summary>
    public DateTimeOffset? GrantExpiresAt { get; init; }
}
