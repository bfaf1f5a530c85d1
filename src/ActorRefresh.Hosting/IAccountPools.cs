using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;

namespace ActorRefresh.Hosting;

/// <summary>
/// Pools of accounts that share a workload: lease the best usable member, and report what the API said about an
/// account's quota so the pool steers around it.
/// </summary>
public interface IAccountPools
{
    /// <summary>
    /// Leases a usable account of <paramref name="pool"/> and its access token: Valid (or backing off with a still-valid
    /// token), not blocked, below the pool's utilisation threshold, not in API cooldown; chosen by the pool's strategy.
    /// Reads the node's read side (no actor round trip when the chosen account has a fresh token) and never causes a
    /// refresh that expiry does not require.
    /// </summary>
    /// <exception cref="PoolNotFoundException">No such pool.</exception>
    /// <exception cref="NoUsableAccountException">No member is usable now; carries the earliest time one becomes usable.</exception>
    ValueTask<AccountLease> LeaseAsync(string pool, CancellationToken cancellationToken = default);

    /// <summary>
    /// Hands an account what an API response said about its quota: its status code and headers (the
    /// <c>anthropic-ratelimit-unified-*</c> ones and, with a 429, <c>Retry-After</c>). A 429 puts the account in API
    /// cooldown (pools avoid it) until Retry-After, else the unified reset, else <c>ActorRefresh:Engine:ApiCooldownDefault</c>.
    /// </summary>
    /// <returns>The account's status after the report.</returns>
    /// <exception cref="AccountNotFoundException">No such account.</exception>
    Task<AccountStatus> ReportUsageAsync(string accountId, int statusCode, IEnumerable<KeyValuePair<string, string>> headers, CancellationToken cancellationToken = default);

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
