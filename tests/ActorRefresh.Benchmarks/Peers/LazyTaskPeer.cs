using System.Collections.Concurrent;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Benchmarks.Peers;

/// <summary>
/// The common hand-rolled de-duplication: a <see cref="ConcurrentDictionary{TKey,TValue}"/> of per-key
/// <see cref="Lazy{T}"/> of <see cref="Task"/>. A stale or failed entry is swapped for a new Lazy with
/// <c>TryUpdate</c>, so concurrent callers share one refresh; a failed refresh is dropped so the next caller retries.
/// </summary>
public sealed class LazyTaskPeer(Upstream upstream, TimeSpan lead) : CachePeerBase(upstream, lead)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedToken>>> _entries = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override string Name => "Lazy<Task> dictionary";

    /// <inheritdoc />
    protected override Task SeedAsync(string accountId, CachedToken token)
    {
        var lazy = new Lazy<Task<CachedToken>>(Task.FromResult(token));
        _ = lazy.Value;
        _entries[accountId] = lazy;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        if (_entries.TryGetValue(accountId, out var lazy) && lazy.IsValueCreated)
        {
            var task = lazy.Value;
            if (task.IsCompletedSuccessfully && task.Result.IsFresh(Time)) return new ValueTask<Secret>(task.Result.AccessToken);
        }
        return SlowAsync(accountId, cancellationToken);
    }

    private async ValueTask<Secret> SlowAsync(string accountId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var current = _entries.GetOrAdd(accountId, id => NewLazy(id));
            CachedToken token;
            try
            {
                token = await current.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PeerRefreshException)
            {
                _entries.TryRemove(KeyValuePair.Create(accountId, current));
                throw;
            }
            if (token.IsFresh(Time)) return token.AccessToken;
            // Stale: replace this entry (only if no one replaced it yet) and wait on whichever entry won.
            _entries.TryUpdate(accountId, NewLazy(accountId), current);
        }
    }

    private Lazy<Task<CachedToken>> NewLazy(string accountId) =>
        new(() => RefreshAsync(accountId, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication);
}
