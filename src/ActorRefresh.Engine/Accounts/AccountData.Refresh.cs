using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Credentials;

namespace ActorRefresh.Engine.Accounts;

/// <summary>The refresh rules of <see cref="AccountData"/>: what a token request gets, what an outcome journals, what a credentials file may replace, when the grant warns.</summary>
internal sealed partial record AccountData
{
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
}
