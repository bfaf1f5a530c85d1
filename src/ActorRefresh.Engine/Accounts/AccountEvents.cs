using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Persistence;

namespace ActorRefresh.Engine.Accounts;

/// <summary>An event in an account's journal. The persistence id carries the account id.</summary>
internal interface IAccountEvent : IAccountPersisted
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>
/// An event that carries tokens. Its actor stamps <see cref="AccountId"/> (the persistence id's account) before journaling,
/// and the serializer binds the token ciphertexts to it, so neither the ciphertexts nor the whole event can be copied
/// into another account's journal. Null in events written before the binding.
/// </summary>
internal interface ITokenEvent : IAccountEvent
{
    string? AccountId { get; }

    /// <summary>This event stamped with its account.</summary>
    ITokenEvent For(string accountId);
}

/// <summary>
/// The account was registered with its first credentials. <see cref="RefreshToken"/> null: a long-lived access token
/// that is never refreshed (served until <see cref="ExpiresAt"/>). <see cref="GrantExpiresAt"/>: when the grant ends, as
/// decided when journaled (null when unknown, and in events written before the field existed).
/// </summary>
internal sealed record AccountRegistered(
    string Provider, Secret? RefreshToken, Secret? AccessToken, DateTimeOffset? ExpiresAt, string? CredentialsFile, DateTimeOffset At) : ITokenEvent
{
    public string? AccountId { get; init; }
    public DateTimeOffset? GrantExpiresAt { get; init; }
    public ITokenEvent For(string accountId) => this with { AccountId = accountId };
}

/// <summary>
/// Intent: the refresh token with this fingerprint is about to be spent. Journaled before the upstream call,
/// so a crash between this and the outcome leaves the account knowing the token may be consumed.
/// <see cref="Deadline"/>: when the call it opens is given up at the latest (started at + the provider's RequestTimeout +
/// the engine's RequestTimeoutGrace). An incarnation that recovers the intent open makes no upstream call before it, since
/// the incarnation that wrote it may still be waiting for that call. Null in events written before the field existed.
/// </summary>
internal sealed record RefreshStarted(string RefreshTokenFingerprint, DateTimeOffset At, DateTimeOffset? Deadline = null) : IAccountEvent;

/// <summary>
/// A refresh succeeded. <see cref="RefreshToken"/> null means the provider kept the old one; <see cref="GrantExpiresAt"/>
/// null means the provider said nothing about the grant's end (the one known stays).
/// </summary>
internal sealed record TokensRefreshed(Secret AccessToken, DateTimeOffset ExpiresAt, Secret? RefreshToken, DateTimeOffset At) : ITokenEvent
{
    public string? AccountId { get; init; }
    public DateTimeOffset? GrantExpiresAt { get; init; }
    public ITokenEvent For(string accountId) => this with { AccountId = accountId };
}

/// <summary>A refresh failed in a way worth retrying at <see cref="RetryAt"/>.</summary>
/// <see cref="TokenMaybeSpent"/>: the provider may have rotated the refresh token although its answer was lost (timeout,
/// broken connection, unreadable success body), now or in an earlier attempt not settled since, so the intent stays
/// open and a later dead grant is reported as that loss.
internal sealed record RefreshFailed(string ErrorClass, string Message, DateTimeOffset RetryAt, bool RateLimit, DateTimeOffset At, bool TokenMaybeSpent = false) : IAccountEvent;

/// <summary>The account is blocked: policy refusal, dead grant, or an operator's decision.</summary>
/// <see cref="EndsRefresh"/>: the block is the provider's definite answer to a refresh whose token was not in doubt before,
/// so that refresh's intent is closed. Other blocks (an operator's, a usage check's; events written before the field
/// existed) leave a "may be spent" marker as it was; a dead grant always settles it.
internal sealed record AccountBlocked(string ErrorClass, string Reason, DateTimeOffset At, bool EndsRefresh = false) : IAccountEvent;

/// <summary>
/// New credentials replaced the old ones (re-login, import, or adoption from a credentials file). <see cref="RefreshToken"/>
/// null: a long-lived access token from now on; <see cref="GrantExpiresAt"/> as in <see cref="AccountRegistered"/>.
/// </summary>
internal sealed record CredentialsReplaced(
    Secret? RefreshToken, Secret? AccessToken, DateTimeOffset? ExpiresAt, string? CredentialsFile, DateTimeOffset At) : ITokenEvent
{
    public string? AccountId { get; init; }
    public DateTimeOffset? GrantExpiresAt { get; init; }
    public ITokenEvent For(string accountId) => this with { AccountId = accountId };
}

/// <summary>An operator lifted the block.</summary>
internal sealed record AccountUnblocked(DateTimeOffset At) : IAccountEvent;

/// <summary>The account was removed; its tokens are forgotten.</summary>
internal sealed record AccountRemoved(DateTimeOffset At) : IAccountEvent;

/// <summary>
/// The account's history is being rewritten under the current encryption key (it held fields under a previous key or
/// in an older format): a snapshot follows and the events and snapshots before it are deleted. Carries no token, so
/// the one journal row the store keeps of a deletion (the highest, to remember the sequence number) holds none.
/// </summary>
internal sealed record HistoryRewritten(DateTimeOffset At) : IAccountEvent;

/// <summary>
/// A quota observation that changed a decision: the account's utilisation crossed the engine's threshold
/// (either way). Observations that change nothing are kept in memory only.
/// </summary>
internal sealed record QuotaRecorded(
    double? FiveHourUtilization, DateTimeOffset? FiveHourResetsAt, double? SevenDayUtilization, DateTimeOffset? SevenDayResetsAt, DateTimeOffset At) : IAccountEvent;

/// <summary>The API refused a request of this account for quota (a reported 429): leases avoid it until <see cref="Until"/>.</summary>
internal sealed record ApiCooldownStarted(DateTimeOffset Until, DateTimeOffset At) : IAccountEvent;

/// <summary>
/// The usage endpoint refused these credentials for a missing scope (a token without <c>user:profile</c>): usage checks
/// stop until new credentials arrive. Scope belongs to the grant, so a refresh (same grant) keeps it. Not a block.
/// </summary>
internal sealed record UsageScopeMissing(string Scope, DateTimeOffset At) : IAccountEvent;

/// <summary>
/// The operator was warned that the grant ending at <see cref="GrantEnd"/> has at most <see cref="Days"/> days left.
/// Journaled so that each warning fires once per grant, across restarts and moves.
/// </summary>
internal sealed record GrantExpiryNoticed(int Days, DateTimeOffset GrantEnd, DateTimeOffset At) : IAccountEvent;

/// <summary>Error classes recorded with failures and blocks (stable strings: they are journaled and shown).</summary>
internal static class ErrorClasses
{
    public const string RateLimited = "rate_limited";
    public const string Transient = "transient";
    public const string Rejected = "rejected";
    public const string PolicyRefused = "policy_refused";
    public const string GrantRejected = "grant_rejected";
    public const string Operator = "operator";
    public const string InterruptedRefresh = "interrupted_refresh";
    public const string Timeout = "timeout";
    public const string ExpiredOnArrival = "expired_on_arrival";

    /// <summary>A long-lived access token (no refresh token) expired: a new token is needed.</summary>
    public const string TokenExpired = "token_expired";

    /// <summary>The API refused a long-lived access token (no refresh token to renew it): a new token is needed.</summary>
    public const string TokenRejected = "token_rejected";
}
