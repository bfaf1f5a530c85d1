using System.Globalization;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Host.Cli;

/// <summary>
/// What the engine will do next with an account, and what an operator should do about a blocked one, in words: shared
/// by the CLI and the status page so both say the same.
/// </summary>
internal static class AccountGuidance
{
    /// <summary>The engine's next step for the account and when.</summary>
    public static string NextStep(AccountStatus status) => status.State switch
    {
        AccountState.Valid when status.NextRefreshAt is { } at => "refresh at " + Time(at),
        AccountState.Valid => "serve the token",
        AccountState.Refreshing => "refreshing now",
        AccountState.BackingOff when status.RetryAt is { } at => "retry at " + Time(at),
        AccountState.BackingOff => "retry when allowed",
        AccountState.PolicyBlocked => "nothing until an operator acts",
        _ => "-",
    };

    /// <summary>What to do about the account, or null when nothing is needed.</summary>
    public static string? Advice(AccountStatus status)
    {
        if (status.State == AccountState.PolicyBlocked)
        {
            return status.LastErrorClass switch
            {
                "grant_rejected" => $"the login is dead (the provider refused the refresh token): log in again (Log in again on the status page, or actor-refresh login {status.Provider} --id {status.AccountId})",
                "interrupted_refresh" => $"a refresh was cut after it was sent and the provider then refused the refresh token: log in again (Log in again on the status page, or actor-refresh login {status.Provider} --id {status.AccountId})",
                "policy_refused" => "the organisation does not allow this kind of login for the account: ask the organisation's admin, then unblock it (actor-refresh unblock)",
                "operator" => $"blocked by an operator ({status.LastError ?? "no reason given"}): unblock it when done (actor-refresh unblock)",
                "rejected" => "the provider refused the request itself: check the provider settings (client id, endpoint, scope), then unblock it",
                "token_expired" => $"the long-lived token expired: give the account a new one (actor-refresh add-token --id {status.AccountId})",
                "token_rejected" => $"the API refused the long-lived token: give the account a new one (actor-refresh add-token --id {status.AccountId})",
                _ => status.LastError is { } reason ? $"blocked: {reason}" : "blocked: see the logs, then unblock it",
            };
        }
        if (status.RefreshTokenMaybeSpent)
            return "a refresh was cut after it was sent: if the next refresh is refused, log in again";
        if (status.GrantNoticeDays is { } days && status.GrantExpiresAt is { } end)
            return $"the grant ends {Time(end)} (in {days} day{(days == 1 ? "" : "s")} or less): log in again before then";
        return null;
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
