using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Hosting;

/// <summary>
/// What code that calls an API needs: a valid access token for an account, and a way to say the API refused one. Every
/// account is refreshed by exactly one actor, so any number of concurrent callers cause at most one upstream refresh per
/// account. Cancelling a call abandons only that caller's wait, never a refresh other callers wait on.
/// Registering and managing accounts is <see cref="IAccountAdmin"/>; pools and quota reports are <see cref="IAccountPools"/>.
/// </summary>
public interface ITokenProvider
{
    /// <summary>A valid access token for the account, refreshing first when needed.</summary>
    /// <exception cref="TokenBackingOffException">No valid token; refreshes are paused until <see cref="TokenBackingOffException.RetryAt"/>.</exception>
    /// <exception cref="AccountBlockedException">The account is blocked (policy or dead grant).</exception>
    /// <exception cref="AccountNotFoundException">No such account.</exception>
    /// <exception cref="EngineUnavailableException">The engine or the account's store cannot answer now.</exception>
    ValueTask<AccessToken> GetTokenAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="GetTokenAsync"/>, but every typed failure (backing off, blocked, not found, unavailable) comes back
    /// in the result instead of as an exception; only the caller's own cancellation throws. The default awaits
    /// <see cref="GetTokenAsync"/>.
    /// </summary>
    ValueTask<TokenResult> TryGetTokenAsync(string accountId, CancellationToken cancellationToken = default) =>
        TokenResult.Of(GetTokenAsync(accountId, cancellationToken));

    /// <summary>Reports that the API refused <paramref name="accessToken"/>; refreshes only if it is still the current token.</summary>
    Task ReportRejectedAsync(string accountId, string accessToken, CancellationToken cancellationToken = default);
}
