using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;

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
    /// <exception cref="InvalidAccountCommandException">Unknown provider, invalid id, empty token, or the id is taken.</exception>
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

    /// <summary>
    /// Completes when the engine itself answers (for readiness probes), with one message to it and none to its accounts;
    /// throws <see cref="EngineUnavailableException"/> otherwise. The default lists the accounts.
    /// </summary>
    Task CheckReadyAsync(CancellationToken cancellationToken = default) => ListAsync(cancellationToken);

    /// <summary>
    /// How many accounts are registered and whether <paramref name="accountId"/> is one of them, from the account
    /// directory's own count (no account is asked). The default lists the accounts.
    /// </summary>
    internal async Task<(int Count, bool Includes)> CountAccountsAsync(string accountId, CancellationToken cancellationToken = default)
    {
        var accounts = await ListAsync(cancellationToken).ConfigureAwait(false);
        return (accounts.Count, accounts.Any(a => string.Equals(a.AccountId, accountId, StringComparison.Ordinal)));
    }

    /// <summary>
    /// Hands an account what an API response said about its quota: its status code and headers (the
    /// <c>anthropic-ratelimit-unified-*</c> ones and, with a 429, <c>Retry-After</c>). A 429 puts the account in API
    /// cooldown (pools avoid it) until Retry-After, else the unified reset, else <c>ActorRefresh:Engine:ApiCooldownDefault</c>.
    /// </summary>
    /// <returns>The account's status after the report.</returns>
    /// <exception cref="AccountNotFoundException">No such account.</exception>
    Task<AccountStatus> ReportUsageAsync(string accountId, int statusCode, IEnumerable<KeyValuePair<string, string>> headers, CancellationToken cancellationToken = default);

    /// <summary>
    /// Leases a usable account of <paramref name="pool"/> and its access token: Valid (or backing off with a still-valid
    /// token), not blocked, below the pool's utilisation threshold, not in API cooldown; chosen by the pool's strategy.
    /// Reads the node's read side (no actor round trip when the chosen account has a fresh token) and never causes a
    /// refresh that expiry does not require.
    /// </summary>
    /// <exception cref="PoolNotFoundException">No such pool.</exception>
    /// <exception cref="NoUsableAccountException">No member is usable now; carries the earliest time one becomes usable.</exception>
    ValueTask<AccountLease> LeaseAsync(string pool, CancellationToken cancellationToken = default);

    /// <summary>The pool and each member's state, utilisation and usability (never a token).</summary>
    /// <exception cref="PoolNotFoundException">No such pool.</exception>
    Task<PoolStatus> GetPoolAsync(string pool, CancellationToken cancellationToken = default);

    /// <summary>Every defined pool, ordered by name.</summary>
    IReadOnlyList<PoolDefinition> ListPools();

    /// <summary>Defines a pool, or replaces the one with the same name. Kept in memory: a restart starts from configuration.</summary>
    /// <exception cref="ArgumentException">The definition is invalid (the message names what is wrong).</exception>
    PoolDefinition DefinePool(PoolDefinition definition);

    /// <summary>Removes a pool defined in configuration or at run time, until the next restart; false when there was none.</summary>
    bool RemovePool(string pool);
}
