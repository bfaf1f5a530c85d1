using System.Text.Json.Serialization;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Persistence;

namespace ActorRefresh.Engine.Accounts;

/// <summary>What <see cref="AccountData.DecideToken"/> says to do with a token request.</summary>
internal enum TokenDecision
{
    NotRegistered,
    Blocked,
    Serve,
    BackOff,
    Refresh,

    /// <summary>A long-lived token (no refresh token) reached its expiry: journal the token_expired block.</summary>
    Expired,
}

/// <summary>
/// The refresh timing of one access token: how long before its expiry it stops being handed out (<see cref="Lead"/>),
/// how much earlier the proactive refresh may fire (<see cref="Jitter"/>), and how long it must stay valid to be served
/// while backing off (<see cref="MinimumValidity"/>).
/// </summary>
internal readonly record struct RefreshTiming(TimeSpan Lead, TimeSpan Jitter, TimeSpan MinimumValidity)
{
    /// <summary>The lead never exceeds this share of the lifetime the provider granted (a quarter).</summary>
    public const int LifetimeShare = 4;

    /// <summary>
    /// The timing for a token granted for <paramref name="lifetime"/>: lead = min(RefreshLead, lifetime / 4), with jitter
    /// and minimum validity scaled by the same factor, so a token of any lifetime is served for at least 65% of it and
    /// refreshed once. An unknown lifetime (imported credentials) takes the settings as they are; a lifetime of zero or
    /// less (the token arrived expired) has no lead at all.
    /// </summary>
    public static RefreshTiming For(TimeSpan? lifetime, EngineOptions options)
    {
        if (lifetime is not { } l) return new(options.RefreshLead, options.RefreshJitter, options.MinimumValidity);
        if (l <= TimeSpan.Zero) return default;
        var lead = l / LifetimeShare;
        if (lead >= options.RefreshLead) return new(options.RefreshLead, options.RefreshJitter, options.MinimumValidity);
        var scale = lead / options.RefreshLead;
        // Whatever the configured ratio, the proactive refresh fires no earlier than halfway to the refresh point.
        var jitter = Min(options.RefreshJitter * scale, (l - lead) / 2);
        return new(lead, jitter, options.MinimumValidity * scale);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>
/// What to do with a usage answer or a passive report: <see cref="InMemory"/> is the state with the non-journaled
/// parts updated; <see cref="Events"/> are journaled on top of it (only what changes a decision);
/// <see cref="TokenRejected"/> asks the actor to treat its current token as rejected (the refresh path).
/// </summary>
internal sealed record UsageDecision(AccountData InMemory, IReadOnlyList<IAccountEvent> Events, bool TokenRejected = false);

/// <summary>
/// The immutable, journaled state of one account, with the pure rules that drive it: <see cref="Apply"/>
/// folds an event in; the <c>Decide*</c> methods turn requests and outcomes into decisions and events.
/// The actor only executes what these say, so the rules are tested without an actor system.
/// </summary>
internal sealed partial record AccountData : IAccountPersisted
{
    public required string AccountId { get; init; }
    public string? Provider { get; init; }
    public Secret? RefreshToken { get; init; }
    public Secret? AccessToken { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// When the engine received the current access token from a refresh, so its lifetime is known; null when unknown
    /// (registered or imported credentials, and snapshots written before this was recorded).
    /// </summary>
    public DateTimeOffset? AccessTokenIssuedAt { get; init; }

    public string? CredentialsFile { get; init; }

    /// <summary>
    /// When the grant ends (the provider or file said so, the provider's MaxGrantLifetime after the login, or a long-lived
    /// token's expiry); null when unknown. The account warns 30, 7 and 1 day before it.
    /// </summary>
    public DateTimeOffset? GrantExpiresAt { get; init; }

    /// <summary>The most urgent grant warning journaled (<see cref="GrantExpiryNoticed.Days"/>) for <see cref="GrantNoticedEnd"/>.</summary>
    public int? GrantNoticedDays { get; init; }

    /// <summary>The grant end <see cref="GrantNoticedDays"/> was about: a new grant end starts the warnings over.</summary>
    public DateTimeOffset? GrantNoticedEnd { get; init; }

    /// <summary>Days before the grant's end at which the operator is warned, the earliest first.</summary>
    internal static readonly int[] GrantNoticeDays = [30, 7, 1];

    /// <summary>Set while blocked: the class of the block (policy_refused, grant_rejected, operator).</summary>
    public string? BlockClass { get; init; }

    /// <summary>Set while backing off: no upstream call before it.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>True when the backoff came from a 429: it is about the account and survives new credentials.</summary>
    public bool RetryIsRateLimit { get; init; }

    /// <summary>Consecutive failed attempts (drives the exponential backoff).</summary>
    public int Attempt { get; init; }

    public string? LastErrorClass { get; init; }
    public string? LastError { get; init; }

    /// <summary>
    /// Fingerprint of the refresh token a journaled intent was about to spend, until its outcome is journaled.
    /// Found set after recovery, it means a refresh was interrupted and the token may be consumed.
    /// </summary>
    public string? InFlightRefresh { get; init; }

    /// <summary>
    /// The deadline the last journaled intent carried (<see cref="RefreshStarted.Deadline"/>); null when written before
    /// intents carried one. Meaningful only while <see cref="InFlightRefresh"/> is set.
    /// </summary>
    public DateTimeOffset? InFlightDeadline { get; init; }

    /// <summary>When the last journaled intent was written (to estimate the deadline of an intent that carries none).</summary>
    public DateTimeOffset? InFlightStartedAt { get; init; }

    /// <summary>
    /// Fingerprints of the refresh tokens this account has spent (rotated away by a refresh, or possibly consumed by an
    /// interrupted one and then replaced), newest first, space-separated, at most <see cref="SpentTokensKept"/>. A
    /// credentials file or an import holding one of them is stale, whatever expiry it claims: adopting it back would
    /// present a consumed token. Derived from the journaled events (and carried by snapshots); a string keeps the
    /// record's value equality and the stored format additive.
    /// </summary>
    public string? SpentRefreshTokens { get; init; }

    /// <summary>How many spent refresh tokens an account remembers (a refresh every 8 h: about five days).</summary>
    internal const int SpentTokensKept = 16;

    public AccountCounters Counters { get; init; } = AccountCounters.Zero;

    // ---- quota (usage) -------------------------------------------------------------------------------
    // Journaled only through QuotaRecorded (a threshold crossing) and ApiCooldownStarted; otherwise updated in
    // memory. The snapshot carries whatever is current.

    public double? FiveHourUtilization { get; init; }
    public DateTimeOffset? FiveHourResetsAt { get; init; }
    public double? SevenDayUtilization { get; init; }
    public DateTimeOffset? SevenDayResetsAt { get; init; }
    public DateTimeOffset? QuotaObservedAt { get; init; }

    /// <summary>The API refused a request for quota: leases avoid the account until then. About the account, not the token.</summary>
    public DateTimeOffset? ApiCooldownUntil { get; init; }

    /// <summary>
    /// Set when new credentials arrived while an organisation-policy block stands: one usage check with the new
    /// access token decides (200 unblocks).
    /// </summary>
    public bool PolicyRecheckPending { get; init; }

    /// <summary>
    /// Set when the usage endpoint refused the credentials for this missing scope (journaled: it stops usage checks).
    /// Cleared only by new credentials (register, replace, import, adoption of a file): scope is a property of the grant, and
    /// a refresh keeps the grant, so it does not clear it.
    /// </summary>
    public string? UsageMissingScope { get; init; }

    /// <summary>Quota-check backoff (in memory only: it never affects refreshes or leases).</summary>
    [JsonIgnore]
    public DateTimeOffset? QuotaCheckRetryAt { get; init; }

    [JsonIgnore]
    public int QuotaCheckAttempt { get; init; }

    /// <summary>Kind of the last usage check outcome (in memory only).</summary>
    [JsonIgnore]
    public string? LastQuotaCheck { get; init; }

    [JsonIgnore]
    public bool IsRegistered => Provider is not null;
    [JsonIgnore]
    public bool IsBlocked => BlockClass is not null;

    /// <summary>
    /// True for an account without a refresh token (a long-lived <c>claude setup-token</c> token): it is served until its
    /// access token expires and never refreshed, by any path.
    /// </summary>
    [JsonIgnore]
    public bool IsStatic => IsRegistered && RefreshToken is null;

    public static AccountData Empty(string accountId) => new() { AccountId = accountId };

    /// <summary>The journaled state (Refreshing is the actor's in-memory mode, layered on top).</summary>
    [JsonIgnore]
    public AccountState State =>
        IsBlocked ? AccountState.PolicyBlocked
        : RetryAt is not null ? AccountState.BackingOff
        : AccountState.Valid;

    /// <summary>How long the provider granted the current access token for; null when unknown.</summary>
    [JsonIgnore]
    public TimeSpan? Lifetime => AccessToken is not null && ExpiresAt is { } expires && AccessTokenIssuedAt is { } issued ? expires - issued : null;

    /// <summary>The refresh timing of the current access token (adapted to its lifetime when known).</summary>
    public RefreshTiming Timing(EngineOptions options) => IsStatic ? default : RefreshTiming.For(Lifetime, options);

    /// <summary>When the access token stops being handed out (expiry minus the lead); null without a token.</summary>
    public DateTimeOffset? RefreshPoint(EngineOptions options) => AccessToken is null ? null : ExpiresAt - Timing(options).Lead;

    public AccountData Apply(IAccountEvent e) => e switch
    {
        AccountRegistered r => Empty(AccountId) with
        {
            Provider = r.Provider,
            RefreshToken = r.RefreshToken,
            AccessToken = r.AccessToken,
            ExpiresAt = r.AccessToken is null ? null : r.ExpiresAt,
            CredentialsFile = r.CredentialsFile,
            GrantExpiresAt = r.GrantExpiresAt,
        },
        RefreshStarted s => this with { InFlightRefresh = s.RefreshTokenFingerprint, InFlightDeadline = s.Deadline, InFlightStartedAt = s.At },
        TokensRefreshed t => this with
        {
            // A rotation consumed the refresh token the account held; a provider that kept it returns none.
            SpentRefreshTokens = t.RefreshToken is not null && RefreshToken is { } spent && !spent.Equals(t.RefreshToken)
                ? WithSpent(spent.Fingerprint)
                : SpentRefreshTokens,
            AccessToken = t.AccessToken,
            ExpiresAt = t.ExpiresAt,
            AccessTokenIssuedAt = t.At,
            RefreshToken = t.RefreshToken ?? RefreshToken,
            // Same grant: its end stays unless the provider said when it is.
            GrantExpiresAt = t.GrantExpiresAt ?? GrantExpiresAt,
            InFlightRefresh = null,
            RetryAt = null,
            RetryIsRateLimit = false,
            // A token that arrived expired is followed by its backoff (DecideArrival): the attempts keep counting.
            Attempt = ArrivedExpired(t) ? Attempt : 0,
            Counters = Counters with { Refreshes = Counters.Refreshes + 1 },
        },
        RefreshFailed f => this with
        {
            // The marker stays while the refresh token may be spent, by this attempt or an earlier one.
            InFlightRefresh = f.TokenMaybeSpent ? InFlightRefresh : null,
            RetryAt = f.RetryAt,
            RetryIsRateLimit = f.RateLimit,
            Attempt = Attempt + 1,
            LastErrorClass = f.ErrorClass,
            LastError = f.Message,
            Counters = Counters with
            {
                Failures = Counters.Failures + 1,
                RateLimited = Counters.RateLimited + (f.RateLimit ? 1 : 0),
            },
        },
        // Earlier versions blocked an account for the usage endpoint's missing-scope 403. Read back, such a block of a
        // serving account is what it was: usage checks unavailable for these credentials, not an organisation policy.
        AccountBlocked b when !IsBlocked && LegacyScopeBlock(b) is { } scope => this with { UsageMissingScope = scope },
        AccountBlocked b => this with
        {
            // A dead grant settles the marker (reported as such, or nothing was spent); a block that is the outcome of a
            // refresh closes that refresh's intent; any other block (operator, usage check) leaves it as it was.
            InFlightRefresh = b.ErrorClass is ErrorClasses.GrantRejected or ErrorClasses.InterruptedRefresh || b.EndsRefresh ? null : InFlightRefresh,
            BlockClass = b.ErrorClass,
            RetryAt = null,
            RetryIsRateLimit = false,
            Attempt = 0,
            LastErrorClass = b.ErrorClass,
            LastError = b.Reason,
            PolicyRecheckPending = false,
            Counters = b.ErrorClass == ErrorClasses.Operator ? Counters : Counters with { Failures = Counters.Failures + 1 },
        },
        CredentialsReplaced c => ApplyNewCredentials(c),
        // An unblock lifts a block and a backoff about an old failure, but not a provider's Retry-After whose time has
        // not come: that is about the account, and calling before it would fight the rate limit (as with new credentials).
        AccountUnblocked u when RetryIsRateLimit && RetryAt > u.At => this with { BlockClass = null, PolicyRecheckPending = false },
        AccountUnblocked => this with { BlockClass = null, RetryAt = null, RetryIsRateLimit = false, Attempt = 0, PolicyRecheckPending = false },
        QuotaRecorded q => this with
        {
            FiveHourUtilization = q.FiveHourUtilization,
            FiveHourResetsAt = q.FiveHourResetsAt,
            SevenDayUtilization = q.SevenDayUtilization,
            SevenDayResetsAt = q.SevenDayResetsAt,
            QuotaObservedAt = q.At,
        },
        ApiCooldownStarted c => this with { ApiCooldownUntil = c.Until },
        UsageScopeMissing m => this with { UsageMissingScope = m.Scope },
        GrantExpiryNoticed g => this with { GrantNoticedDays = g.Days, GrantNoticedEnd = g.GrantEnd },
        AccountRemoved => Empty(AccountId),
        HistoryRewritten => this,
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Unknown account event."),
    };

    /// <summary>The scope of a block that an earlier version journaled for a usage-endpoint scope refusal; null for any other block.</summary>
    private static string? LegacyScopeBlock(AccountBlocked b)
    {
        const string prefix = "organisation policy (usage check): ";
        if (b.ErrorClass != ErrorClasses.PolicyRefused || !b.Reason.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var message = b.Reason[prefix.Length..];
        return UsageResponseClassifier.IsOrganisationPolicy(message) ? null : UsageResponseClassifier.MissingScope(message);
    }

    private AccountData ApplyNewCredentials(CredentialsReplaced c)
    {
        // A dead grant was about the old refresh token, an expired or refused long-lived token about that token: new
        // credentials clear them. An organisation-policy or operator block is about the account and needs an explicit unblock.
        var clearBlock = BlockClass is ErrorClasses.GrantRejected or ErrorClasses.InterruptedRefresh or ErrorClasses.TokenExpired or ErrorClasses.TokenRejected;
        // A 429 whose time has not come is about the account, not the token: keep it.
        var keepBackoff = RetryIsRateLimit && RetryAt > c.At;
        var blockClass = clearBlock ? null : BlockClass;
        return this with
        {
            // A refresh token an interrupted refresh may have consumed is given up for good with these credentials.
            SpentRefreshTokens = InFlightRefresh is { } maybeSpent && RefreshToken is { } held && !held.Equals(c.RefreshToken)
                ? WithSpent(maybeSpent)
                : SpentRefreshTokens,
            RefreshToken = c.RefreshToken,
            AccessToken = c.AccessToken,
            ExpiresAt = c.AccessToken is null ? null : c.ExpiresAt,
            AccessTokenIssuedAt = null,
            CredentialsFile = c.CredentialsFile ?? CredentialsFile,
            // New credentials settle the marker, unless they bring back the very refresh token that may be spent.
            InFlightRefresh = InFlightRefresh is not null && c.RefreshToken?.Fingerprint == InFlightRefresh ? InFlightRefresh : null,
            GrantExpiresAt = c.GrantExpiresAt,
            BlockClass = blockClass,
            // An organisation-policy block is cleared by a successful usage check with the new access token.
            PolicyRecheckPending = blockClass == ErrorClasses.PolicyRefused && c.AccessToken is not null,
            // New credentials may carry another grant: the usage endpoint is asked again.
            UsageMissingScope = null,
            RetryAt = keepBackoff ? RetryAt : null,
            RetryIsRateLimit = keepBackoff,
            Attempt = keepBackoff ? Attempt : 0,
        };
    }

    private string WithSpent(string fingerprint)
    {
        var kept = (SpentRefreshTokens ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => f != fingerprint).Take(SpentTokensKept - 1);
        return string.Join(' ', kept.Prepend(fingerprint));
    }

    /// <summary>The status an operator sees; <paramref name="refreshing"/> is the actor's in-memory mode.</summary>
    public AccountStatus ToStatus(bool refreshing, DateTimeOffset? nextRefreshAt, long version) => new(
        AccountId,
        Provider ?? "",
        refreshing ? AccountState.Refreshing : State,
        AccessToken is null ? null : ExpiresAt,
        State == AccountState.Valid && !IsStatic ? nextRefreshAt : null,
        RetryAt,
        LastErrorClass,
        LastError,
        RefreshTokenMaybeSpent: InFlightRefresh is not null && !refreshing,
        Counters,
        version,
        ToUsage())
    {
        GrantExpiresAt = GrantExpiresAt,
        GrantNoticeDays = GrantNoticedEnd == GrantExpiresAt ? GrantNoticedDays : null,
    };

    /// <summary>Prints no token: the generated record ToString would.</summary>
    public override string ToString() =>
        $"AccountData {{ AccountId = {AccountId}, Provider = {Provider}, State = {State}, ExpiresAt = {ExpiresAt:O}, RetryAt = {RetryAt:O} }}";
}
