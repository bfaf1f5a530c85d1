using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Hosting.Notifications;

/// <summary>
/// Something an operator should hear about an account: it was blocked, a refresh was interrupted, it backs off for
/// long, its quota crossed the threshold, or it is healthy again. Carries no token, only what the status shows.
/// </summary>
/// <param name="Kind">One of the <see cref="AccountNoticeKinds"/>.</param>
/// <param name="AccountId">The account.</param>
/// <param name="Provider">Its provider profile.</param>
/// <param name="State">Its state when the notice was raised.</param>
/// <param name="Reason">Why, in words (the block reason or the last error), if any.</param>
/// <param name="Until">When a backoff ends, a quota window resets or a grant ends, if that is what the notice is about.</param>
/// <param name="At">When the notice was raised.</param>
public sealed record AccountNotice(string Kind, string AccountId, string Provider, AccountState State, string? Reason, DateTimeOffset? Until, DateTimeOffset At);

/// <summary>The kinds of <see cref="AccountNotice"/>.</summary>
public static class AccountNoticeKinds
{
    /// <summary>The account was blocked (dead grant, organisation policy, operator).</summary>
    public const string Blocked = "account.blocked";

    /// <summary>A refresh was cut after it was sent: the refresh token may be spent (<c>refreshTokenMaybeSpent</c>).</summary>
    public const string RefreshInterrupted = "account.refresh_interrupted";

    /// <summary>The account backs off for at least the configured time.</summary>
    public const string BackingOff = "account.backing_off";

    /// <summary>The account's quota utilisation reached the threshold.</summary>
    public const string QuotaThreshold = "account.quota_threshold";

    /// <summary>An account that was the subject of one of the notices above is valid again.</summary>
    public const string Healthy = "account.healthy";

    /// <summary>
    /// The account's grant (or long-lived token) ends within 30, 7 or 1 day: log in again, or register a new token. Raised
    /// once per warning and grant, across restarts (the engine journals each).
    /// </summary>
    public const string GrantExpiring = "account.grant_expiring";

    /// <summary>Every kind.</summary>
    public static IReadOnlyList<string> All { get; } = [Blocked, RefreshInterrupted, BackingOff, QuotaThreshold, Healthy, GrantExpiring];
}

/// <summary>The rules that turn two successive statuses of an account into notices; pure.</summary>
internal static class AccountNoticeRules
{
    /// <summary>
    /// The notices between <paramref name="previous"/> and <paramref name="current"/>. No notice for the first status a
    /// node sees of an account (a restart or a move would repeat old news). <paramref name="unhealthyNoticed"/> says
    /// whether a notice about trouble was raised since the account was last healthy; only then is a healthy notice due.
    /// </summary>
    public static IReadOnlyList<AccountNotice> Between(AccountStatus? previous, AccountStatus current, bool unhealthyNoticed,
        TimeSpan longBackoff, double utilisationThreshold, DateTimeOffset now)
    {
        if (previous is null) return [];
        var notices = new List<AccountNotice>();
        AccountNotice Notice(string kind, string? reason, DateTimeOffset? until) =>
            new(kind, current.AccountId, current.Provider, current.State, reason, until, now);

        if (current.State == AccountState.PolicyBlocked && previous.State != AccountState.PolicyBlocked)
            notices.Add(Notice(AccountNoticeKinds.Blocked, current.LastError ?? current.LastErrorClass, null));
        if (current.RefreshTokenMaybeSpent && !previous.RefreshTokenMaybeSpent)
            notices.Add(Notice(AccountNoticeKinds.RefreshInterrupted, "a refresh was cut after it was sent: the refresh token may be spent", null));
        if (current is { State: AccountState.BackingOff, RetryAt: { } retryAt } && retryAt - now >= longBackoff
            && !(previous.State == AccountState.BackingOff && previous.RetryAt == retryAt))
            notices.Add(Notice(AccountNoticeKinds.BackingOff, current.LastError ?? current.LastErrorClass, retryAt));
        var before = previous.Usage?.UtilisationAt(now) ?? 0;
        var after = current.Usage?.UtilisationAt(now) ?? 0;
        if (before < utilisationThreshold && after >= utilisationThreshold)
            notices.Add(Notice(AccountNoticeKinds.QuotaThreshold, $"utilisation {after:0.#} % reached the threshold of {utilisationThreshold:0.#} %", null));
        if (current is { GrantNoticeDays: { } days, GrantExpiresAt: { } grantEnd }
            && (previous.GrantNoticeDays != days || previous.GrantExpiresAt != grantEnd))
            notices.Add(Notice(AccountNoticeKinds.GrantExpiring,
                $"the grant ends within {days} day(s): log in again (or register a new token) before then", grantEnd));
        if (unhealthyNoticed && IsHealthy(current) && !IsHealthy(previous))
            notices.Add(Notice(AccountNoticeKinds.Healthy, null, null));
        return notices;
    }

    /// <summary>True for the notices that make a later <see cref="AccountNoticeKinds.Healthy"/> due.</summary>
    public static bool IsTrouble(AccountNotice notice) => notice.Kind is AccountNoticeKinds.Blocked or AccountNoticeKinds.RefreshInterrupted or AccountNoticeKinds.BackingOff;

    private static bool IsHealthy(AccountStatus status) => status.State == AccountState.Valid && !status.RefreshTokenMaybeSpent;
}
