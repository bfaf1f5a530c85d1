using ActorRefresh.Hosting;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>A configured limit on accounts or pools is reached (409).</summary>
internal sealed class LimitReachedException(string reason) : Exception(reason);

/// <summary>
/// Enforces <see cref="ApiOptions.MaxAccounts"/> and <see cref="ApiOptions.MaxPools"/>. Checks and creations are
/// serialized on this node, so concurrent requests cannot both take the last place; in a cluster each node counts the
/// whole cluster's accounts, but two nodes registering at once may pass the limit by one each.
/// </summary>
internal sealed class Limits(IOptions<ApiOptions> options)
{
    private readonly SemaphoreSlim _accounts = new(1, 1);
    private readonly Lock _pools = new();

    /// <summary>Runs <paramref name="create"/> unless it would add an account past the limit.</summary>
    public async Task<T> AddingAccountAsync<T>(IAccountAdmin accounts, string accountId, Func<Task<T>> create, CancellationToken ct)
    {
        await _accounts.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var max = options.Value.MaxAccounts;
            // The directory's own count: no account is listed or asked.
            var (count, includes) = await accounts.CountAccountsAsync(accountId, ct).ConfigureAwait(false);
            if (count >= max && !includes)
                throw new LimitReachedException(
                    $"The broker holds its limit of {max} accounts ({ApiOptions.MaxAccountsSetting}); remove an account or raise the limit.");
            return await create().ConfigureAwait(false);
        }
        finally
        {
            _accounts.Release();
        }
    }

    /// <summary>Runs <paramref name="define"/> unless it would add a pool past the limit.</summary>
    public T DefiningPool<T>(IAccountPools defined, string name, Func<T> define)
    {
        lock (_pools)
        {
            var max = options.Value.MaxPools;
            var pools = defined.ListPools();
            if (pools.Count >= max && !pools.Any(p => string.Equals(p.Name, name, StringComparison.Ordinal)))
                throw new LimitReachedException(
                    $"The broker holds its limit of {max} pools ({ApiOptions.MaxPoolsSetting}); remove a pool or raise the limit.");
            return define();
        }
    }
}
