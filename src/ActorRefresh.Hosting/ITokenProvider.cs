using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Hosting;

/// <summary>
/// The one way code in a host asks for tokens. Every account is refreshed by exactly one actor,
/// so any number of concurrent callers cause at most one upstream refresh per account.
/// Cancelling a call abandons only that caller's wait, never a refresh other callers wait on.
/// </summary>
public interface ITokenProvider
{
    /// <summary>A valid access token for the account, refreshing first when needed.</summary>
    /// <exception cref="TokenBackingOffException">No valid token; refreshes are paused until <see cref="TokenBackingOffException.RetryAt"/>.</exception>
    /// <exception cref="AccountBlockedException">The account is blocked (policy or dead grant).</exception>
    /// <exception cref="AccountNotFoundException">No such account.</exception>
    ValueTask<AccessToken> GetTokenAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>Reports that the API refused <paramref name="accessToken"/>; refreshes only if it is still the current token.</summary>
    Task ReportRejectedAsync(string accountId, string accessToken, CancellationToken cancellationToken = default);

    /// <summary>Registers a new account.</summary>
    /// <exception cref="InvalidAccountCommandException">Unknown provider, invalid id, empty token, past expiry, or the id is taken.</exception>
    Task<AccountStatus> RegisterAsync(AccountCredentials credentials, CancellationToken cancellationToken = default);

    /// <summary>Gives an account new credentials (after a re-login); clears what was about the old ones.</summary>
    Task<AccountStatus> ReplaceCredentialsAsync(AccountCredentials credentials, CancellationToken cancellationToken = default);

    /// <summary>Lifts a block (and a backoff that was about the old failure).</summary>
    Task<AccountStatus> UnblockAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>Blocks an account by operator decision until it is unblocked.</summary>
    Task<AccountStatus> BlockAsync(string accountId, string reason, CancellationToken cancellationToken = default);

    /// <summary>Refreshes now (unless backing off or blocked) and returns the status after the attempt was started.</summary>
    Task<AccountStatus> ForceRefreshAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>Forgets an account and its stored tokens.</summary>
    Task RemoveAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>The account's status (never a token).</summary>
    Task<AccountStatus> GetStatusAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>Status of every registered account.</summary>
    Task<IReadOnlyList<AccountStatus>> ListAsync(CancellationToken cancellationToken = default);
}
