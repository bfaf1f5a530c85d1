using System.Collections.Concurrent;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Benchmarks.Peers;

/// <summary>
/// The floor: a <see cref="ConcurrentDictionary{TKey,TValue}"/> lookup plus the freshness check. A stale entry is
/// refreshed by every caller that finds it stale (no de-duplication), which is what a bare dictionary gives you.
/// </summary>
public sealed class PlainDictionaryPeer(Upstream upstream, TimeSpan lead) : CachePeerBase(upstream, lead)
{
    private readonly ConcurrentDictionary<string, CachedToken> _tokens = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override string Name => "ConcurrentDictionary";

    /// <inheritdoc />
    protected override Task SeedAsync(string accountId, CachedToken token)
    {
        _tokens[accountId] = token;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        if (_tokens.TryGetValue(accountId, out var token) && token.IsFresh(Time))
            return new ValueTask<Secret>(token.AccessToken);
        return SlowAsync(accountId, cancellationToken);
    }

    private async ValueTask<Secret> SlowAsync(string accountId, CancellationToken cancellationToken)
    {
        var token = await RefreshAsync(accountId, cancellationToken).ConfigureAwait(false);
        _tokens[accountId] = token;
        return token.AccessToken;
    }

    /// <summary>The bare lookup without the freshness check (informational; not a correct cache).</summary>
    public Secret? BareLookup(string accountId) => _tokens.TryGetValue(accountId, out var token) ? token.AccessToken : null;
}
