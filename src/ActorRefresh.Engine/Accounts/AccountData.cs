using System.Text.Json.Serialization;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Credentials;
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
internal sealed record AccountData : IAccountPersisted
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

    /// <summary>True when this account spent <paramref name="refreshToken"/> (see <see cref="SpentRefreshTokens"/>).</summary>
    public bool HasSpent(Secret refreshToken) =>
        SpentRefreshTokens is { } spent && spent.Split(' ').Contains(refreshToken.Fingerprint, StringComparer.Ordinal);

    /// <summary>True when the access token may be handed out without refreshing (before the refresh point).</summary>
    public bool HasFreshToken(DateTimeOffset now, EngineOptions options) =>
        AccessToken is not null && now < ExpiresAt - Timing(options).Lead;

    /// <summary>True when the access token stays valid at least the (scaled) minimum validity: served while backing off.</summary>
    public bool HasStillValidToken(DateTimeOffset now, EngineOptions options) =>
        AccessToken is not null && now < ExpiresAt - Timing(options).MinimumValidity;

    /// <summary>
    /// When the open intent's call is given up at the latest: its journaled deadline or, for an intent written before
    /// intents carried one, its start plus <paramref name="legacyWindow"/> (the provider's current RequestTimeout plus
    /// grace: the timer the writing version used, unless the settings changed since). Null without an open intent, or
    /// for an open intent known only from a snapshot written before the start was recorded (nothing to wait on).
    /// </summary>
    public DateTimeOffset? OpenIntentDeadline(TimeSpan legacyWindow) =>
        InFlightRefresh is null ? null : InFlightDeadline ?? InFlightStartedAt + legacyWindow;

    /// <summary>
    /// True when the call of the intent just journaled may still be sent: its deadline (which a successor waits out in
    /// cluster mode) leaves at least half of <paramref name="requestTimeout"/>. A call sent with less would likely be given
    /// up before an answer that is merely slow and counted as "the answer may be lost"; not sending it spends nothing.
    /// Half, not the whole timeout: a write slower than the grace on a loaded node is common and harmless (the call still
    /// has most of its window); one that ate half the window is a store in trouble. No deadline: no limit.
    /// </summary>
    public bool LeavesTimeToCall(DateTimeOffset now, TimeSpan requestTimeout) =>
        InFlightDeadline is not { } deadline || deadline - now >= requestTimeout / 2;

    /// <summary>
    /// The fence a new incarnation applies right after recovery: an open intent whose deadline has not passed may belong
    /// to a call the previous incarnation (a paused or replaced node) is still waiting for, so no upstream call is made
    /// before that deadline. Expressed as a backoff until the deadline, in memory only (not journaled): callers are served
    /// a still-valid token or told to come back then, and the retry timer starts the refresh at the deadline. A later
    /// backoff that is already journaled stays as it is.
    /// </summary>
    public AccountData WaitOutOpenIntent(DateTimeOffset now, TimeSpan legacyWindow)
    {
        if (!IsRegistered || IsBlocked || OpenIntentDeadline(legacyWindow) is not { } deadline || deadline <= now || RetryAt >= deadline) return this;
        return this with { RetryAt = deadline, LastError = LastError ?? "waiting out a refresh that may still be in flight" };
    }

    /// <summary>
    /// What a token request gets now. <paramref name="tokenRejected"/>: the API refused the current access token (reported
    /// since it was issued, held in memory only): it is not served, and the account refreshes unless it is backing off.
    /// </summary>
    public TokenDecision DecideToken(DateTimeOffset now, EngineOptions options, bool tokenRejected = false)
    {
        if (!IsRegistered) return TokenDecision.NotRegistered;
        if (IsBlocked) return TokenDecision.Blocked;
        if (tokenRejected) return RetryAt > now ? TokenDecision.BackOff : TokenDecision.Refresh;
        if (HasFreshToken(now, options)) return TokenDecision.Serve;
        // Nothing can renew a long-lived token: past its expiry it is blocked, never refreshed (whatever a backoff says).
        if (IsStatic) return TokenDecision.Expired;
        if (RetryAt > now)
            return HasStillValidToken(now, options) ? TokenDecision.Serve : TokenDecision.BackOff;
        return TokenDecision.Refresh;
    }

    /// <summary>
    /// The event that adopts the pair another program wrote to the account's credentials file (only one with a refresh
    /// token is adopted, see <see cref="DecideCredentialsFile"/>). The pair may be a refresh of the same grant or a new
    /// login: without the file's word, the grant end already known stays (the earlier warning, if wrong).
    /// </summary>
    public CredentialsReplaced AdoptionOf(ClaudeCredentials file, DateTimeOffset now, TimeSpan? maxGrantLifetime)
    {
        var accessValid = file.ExpiresAt > now;
        return new CredentialsReplaced(file.RefreshToken!, accessValid ? file.AccessToken : null, accessValid ? file.ExpiresAt : null, null, now)
        {
            GrantExpiresAt = file.RefreshTokenExpiresAt ?? GrantExpiresAt ?? GrantEndOf(null, isStatic: false, null, maxGrantLifetime, now),
        };
    }

    /// <summary>
    /// What a long-lived account (no refresh token) does where a refreshable one would refresh: its token was refused
    /// (<paramref name="tokenRejected"/>) → blocked as token_rejected; it has expired → blocked as token_expired; otherwise
    /// nothing (it goes on serving). Null also for an account that is not static or already blocked.
    /// </summary>
    public AccountBlocked? DecideStatic(DateTimeOffset now, bool tokenRejected)
    {
        if (!IsStatic || IsBlocked) return null;
        if (tokenRejected)
            return new AccountBlocked(ErrorClasses.TokenRejected,
                "the long-lived access token was rejected by the API and has no refresh token to renew it; register a new token", now);
        if (AccessToken is null || !(now < ExpiresAt))
            return new AccountBlocked(ErrorClasses.TokenExpired,
                $"the long-lived access token expired at {ExpiresAt:O} and has no refresh token to renew it; register a new token", now);
        return null;
    }

    /// <summary>
    /// When the grant of new credentials ends: what the provider or file said (<paramref name="told"/>); else, for a
    /// long-lived token, its expiry; else <paramref name="maxGrantLifetime"/> after <paramref name="at"/> (the login);
    /// else unknown.
    /// </summary>
    public static DateTimeOffset? GrantEndOf(DateTimeOffset? told, bool isStatic, DateTimeOffset? tokenExpiresAt, TimeSpan? maxGrantLifetime, DateTimeOffset at) =>
        told ?? (isStatic ? tokenExpiresAt : maxGrantLifetime is { } max ? RetryAfterLimits.SafeAdd(at, max) : null);

    /// <summary>
    /// The grant warning due at <paramref name="now"/>: the most urgent of <see cref="GrantNoticeDays"/> whose time has come
    /// and that was not journaled for this grant end yet (after a restart 5 days before the end: the 7-day one only, never
    /// the 30-day one as well). Null when none is due, the end is unknown or past, or the account is blocked.
    /// </summary>
    public GrantExpiryNoticed? DecideGrantNotice(DateTimeOffset now)
    {
        if (!IsRegistered || IsBlocked || GrantExpiresAt is not { } end || end <= now) return null;
        var left = end - now;
        int? due = null;
        foreach (var days in GrantNoticeDays)
            if (left <= TimeSpan.FromDays(days)) due = days;
        if (due is not { } d) return null;
        if (GrantNoticedEnd == end && GrantNoticedDays <= d) return null;
        return new GrantExpiryNoticed(d, end, now);
    }

    /// <summary>When the next grant warning falls due after <paramref name="now"/>; null when no more will.</summary>
    public DateTimeOffset? NextGrantNoticeAt(DateTimeOffset now)
    {
        if (!IsRegistered || GrantExpiresAt is not { } end || end <= now) return null;
        DateTimeOffset? next = null;
        foreach (var days in GrantNoticeDays)
        {
            var at = end - TimeSpan.FromDays(days);
            if (at > now && (next is null || at < next)) next = at;
        }
        return next;
    }

    /// <summary>
    /// The event that records <paramref name="outcome"/> of a refresh. <paramref name="interruptedBefore"/> is true when
    /// the refresh token had possibly been spent before this attempt (an interrupted refresh, an answer lost earlier): a
    /// failure then keeps that knowledge, and a rejection is reported as that loss rather than as a generic dead grant.
    /// </summary>
    public IAccountEvent DecideOutcome(RefreshOutcome outcome, DateTimeOffset now, BackoffPolicy backoff, bool interruptedBefore) =>
        outcome switch
        {
            RefreshOutcome.Refreshed r => new TokensRefreshed(r.AccessToken, r.ExpiresAt, r.RefreshToken, now) { GrantExpiresAt = r.RefreshTokenExpiresAt },
            RefreshOutcome.RateLimited r => new RefreshFailed(
                ErrorClasses.RateLimited, "rate limited by the token endpoint", backoff.NextAttemptAt(Attempt + 1, now, r.RetryAt), RateLimit: true, now,
                TokenMaybeSpent: interruptedBefore),
            RefreshOutcome.Transient t => new RefreshFailed(
                ErrorClasses.Transient, t.Reason, backoff.NextAttemptAt(Attempt + 1, now, t.RetryAt), RateLimit: false, now,
                TokenMaybeSpent: t.AnswerMayBeLost || interruptedBefore),
            RefreshOutcome.Rejected r => new RefreshFailed(
                ErrorClasses.Rejected, $"token endpoint refused the request (HTTP {r.Status}): {r.Message}", backoff.RejectedAttemptAt(now), RateLimit: false, now,
                TokenMaybeSpent: interruptedBefore),
            RefreshOutcome.PolicyRefused p => new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy: " + p.Message, now, EndsRefresh: !interruptedBefore),
            RefreshOutcome.GrantRejected g when interruptedBefore => new AccountBlocked(
                ErrorClasses.InterruptedRefresh,
                $"refresh token consumed by an interrupted refresh ({g.Error}); new credentials are needed", now),
            RefreshOutcome.GrantRejected g => new AccountBlocked(
                ErrorClasses.GrantRejected, g.Description is null ? g.Error : $"{g.Error}: {g.Description}", now),
            _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome.Kind, "Unknown refresh outcome."),
        };

    /// <summary>
    /// What follows a successful refresh whose access token arrived already past its refresh point (<c>expires_in: 0</c>,
    /// an expiry in the past): a backoff, journaled after the new pair, instead of the next refresh at once. Null for a
    /// usable token. Under the lifetime rule only a token that expired on arrival is past its refresh point: any positive
    /// lifetime leaves three quarters of it before the lead.
    /// </summary>
    public RefreshFailed? DecideArrival(TokensRefreshed refreshed, BackoffPolicy backoff) =>
        ArrivedExpired(refreshed)
            ? new RefreshFailed(ErrorClasses.ExpiredOnArrival,
                $"the token endpoint returned an access token already past its refresh point (expires {refreshed.ExpiresAt:O}: expires_in 0 or clock skew)",
                backoff.NextAttemptAt(Attempt + 1, refreshed.At), RateLimit: false, refreshed.At)
            : null;

    private static bool ArrivedExpired(TokensRefreshed t) => t.ExpiresAt <= t.At;

    /// <summary>
    /// Compares the account's pair with what its credentials file holds. Only a pair the account does not hold and has
    /// not spent is adopted: the same pair read again, or a refresh token this account already spent, changes nothing
    /// (an adoption clears a dead-grant block and a backoff, so re-adopting the same pair would undo both at every
    /// poll). An access token that has expired by <paramref name="now"/> is worth nothing and is not compared. Expiry
    /// orders two different pairs: a pair issued later expires later, whoever issued it.
    /// </summary>
    public CredentialsFileDecision DecideCredentialsFile(ClaudeCredentials file, DateTimeOffset now)
    {
        // A file without a refresh token (an access-only copy for a sandbox, a long-lived token) is never adopted: adopting
        // it would leave the account unable to refresh.
        if (!IsRegistered || file.RefreshToken is null) return CredentialsFileDecision.Nothing;
        // The account's pair can be written back only when it has one (a refresh-token-only account has nothing to write).
        var stale = AccessToken is null ? CredentialsFileDecision.Nothing : CredentialsFileDecision.WriteBack;
        if (HasSpent(file.RefreshToken)) return stale;
        var fileAccessNewer = file.ExpiresAt > now && !(file.ExpiresAt <= ExpiresAt);
        if (RefreshToken is { } held && held.Equals(file.RefreshToken))
        {
            // Our own refresh token: only a newer access token that is still valid (a provider that keeps refresh tokens,
            // refreshed by the other program) is news. Anything else is what we hold, or older.
            if (AccessToken is not null && AccessToken.Equals(file.AccessToken)) return CredentialsFileDecision.Nothing;
            return fileAccessNewer ? CredentialsFileDecision.Adopt : stale;
        }
        if (ExpiresAt is null || file.ExpiresAt > ExpiresAt) return CredentialsFileDecision.Adopt;
        return stale;
    }

    // ---- quota rules ------------------------------------------------------------------------------------

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
