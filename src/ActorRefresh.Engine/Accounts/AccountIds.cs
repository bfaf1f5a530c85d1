using ActorRefresh.Core.Providers;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Rules for account ids, shared by the API, the region and the actor.</summary>
public static class AccountIdRules
{
    /// <summary>Longest allowed id.</summary>
    public const int MaxLength = 128;

    /// <summary>Describes the rule, for error messages.</summary>
    public const string Description = "an account id is 1-128 characters of letters, digits, '.', '_', '-' and '@'";

    /// <summary>True when <paramref name="id"/> follows the rule.</summary>
    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength) return false;
        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@')) return false;
        }
        return true;
    }

    /// <summary>The persistence id of the account (prefixed with the entity type).</summary>
    public static string PersistenceId(string accountId) => "account-" + accountId;
}

/// <summary>
/// What every registration and replacement of credentials must satisfy, checked by the directory before it journals a
/// new id (a refused registration leaves nothing behind) and by the account itself.
/// </summary>
internal static class AccountCredentialsRules
{
    /// <summary>Why <paramref name="credentials"/> cannot be accepted at <paramref name="now"/>, or null when they can.</summary>
    public static string? Problem(AccountCredentials credentials, IProviderRegistry providers, DateTimeOffset now)
    {
        if (!AccountIdRules.IsValid(credentials.AccountId)) return AccountIdRules.Description;
        if (!providers.TryGet(credentials.Provider, out _))
            return $"unknown provider '{credentials.Provider}' (configured: {string.Join(", ", providers.Names)})";
        if (credentials.AccessToken is not null && credentials.ExpiresAt is null) return "expiresAt is required with an access token";
        if (credentials.AccessToken is null && credentials.ExpiresAt is not null) return "expiresAt was given without an access token";
        if (credentials.RefreshToken is null)
        {
            if (credentials.AccessToken is null) return "a refreshToken, or an accessToken with its expiresAt (a long-lived token), is required";
            if (credentials.ExpiresAt <= now)
                return $"the access token expired at {credentials.ExpiresAt:O} and there is no refresh token to renew it";
        }
        return null;
    }

    /// <summary>
    /// <paramref name="credentials"/> without their access token when it has expired by <paramref name="now"/>: a
    /// registration may wait in the engine (a shard moving to another node) past that expiry, and an expired access
    /// token is the normal state of an idle login, so the account starts from the refresh token instead of refusing.
    /// A long-lived token (no refresh token) is kept: it is all the account has, and <see cref="Problem"/> refuses it.
    /// </summary>
    public static AccountCredentials WithoutExpiredAccessToken(AccountCredentials credentials, DateTimeOffset now) =>
        credentials.RefreshToken is not null && credentials.ExpiresAt is { } expiresAt && expiresAt <= now
            ? credentials with { AccessToken = null, ExpiresAt = null }
            : credentials;
}
