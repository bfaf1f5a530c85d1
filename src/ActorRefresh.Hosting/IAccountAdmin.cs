using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Hosting;

/// <summary>
/// Administration of the accounts: what an operator, a login flow or a broker's admin API does. Callers that only need
/// tokens use <see cref="ITokenProvider"/>.
/// </summary>
public interface IAccountAdmin
{
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
}
