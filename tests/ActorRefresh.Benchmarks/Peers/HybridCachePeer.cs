using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Core.Tokens;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Benchmarks.Peers;

/// <summary>
/// <see cref="HybridCache"/> (in-process L1 only) with its stampede-protected <c>GetOrCreateAsync</c>, the state overload
/// (no closure per call). Entries expire at the refresh point: refreshed tokens get <c>lifetime − lead</c> from the time
/// the refresh started (slightly early, never late); the returned token is checked against the clock as well and a stale
/// one is evicted and fetched again.
/// </summary>
public sealed class HybridCachePeer : CachePeerBase
{
    private readonly ServiceProvider _provider;
    private readonly HybridCache _cache;
    private readonly TimeSpan _tokenLifetime;

    /// <summary>Creates the peer.</summary>
    public HybridCachePeer(Upstream upstream, TimeSpan lead, TimeSpan tokenLifetime) : base(upstream, lead)
    {
        _tokenLifetime = tokenLifetime;
        _provider = new ServiceCollection().AddHybridCache().Services.BuildServiceProvider();
        _cache = _provider.GetRequiredService<HybridCache>();
    }

    /// <inheritdoc />
    public override string Name => "HybridCache";

    /// <inheritdoc />
    protected override async Task SeedAsync(string accountId, CachedToken token)
    {
        var left = token.FreshFor(Time);
        await _cache.SetAsync(accountId, token, new HybridCacheEntryOptions { Expiration = left, LocalCacheExpiration = left });
    }

    /// <inheritdoc />
    public override ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        var pending = _cache.GetOrCreateAsync(accountId, (Peer: this, Id: accountId), static (s, ct) => s.Peer.CreateAsync(s.Id, ct),
            EntryOptions(), cancellationToken: cancellationToken);
        if (pending.IsCompletedSuccessfully && pending.Result.IsFresh(Time)) return new ValueTask<Secret>(pending.Result.AccessToken);
        return SlowAsync(accountId, pending, cancellationToken);
    }

    private async ValueTask<Secret> SlowAsync(string accountId, ValueTask<CachedToken> pending, CancellationToken cancellationToken)
    {
        var token = await pending.ConfigureAwait(false);
        for (var attempt = 0; !token.IsFresh(Time); attempt++)
        {
            if (attempt == 3) throw new PeerRefreshException("stale", null);
            await _cache.RemoveAsync(accountId, cancellationToken).ConfigureAwait(false);
            token = await _cache.GetOrCreateAsync(accountId, (Peer: this, Id: accountId), static (s, ct) => s.Peer.CreateAsync(s.Id, ct),
                EntryOptions(), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        return token.AccessToken;
    }

    private HybridCacheEntryOptions? _entryOptions;

    private HybridCacheEntryOptions EntryOptions()
    {
        // Every refreshed token lives _tokenLifetime; counted from before the call it expires at or before its refresh point.
        return _entryOptions ??= new HybridCacheEntryOptions { Expiration = _tokenLifetime - Lead, LocalCacheExpiration = _tokenLifetime - Lead };
    }

    private async ValueTask<CachedToken> CreateAsync(string accountId, CancellationToken cancellationToken) =>
        await RefreshAsync(accountId, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public override async ValueTask DisposeAsync() => await _provider.DisposeAsync();
}
