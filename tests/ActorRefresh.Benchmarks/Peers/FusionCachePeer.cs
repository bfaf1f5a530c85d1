using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Core.Tokens;
using ZiggyCreatures.Caching.Fusion;

namespace ActorRefresh.Benchmarks.Peers;

/// <summary>
/// FusionCache (memory level only) with its stampede-protected <c>GetOrSetAsync</c>. The factory is one cached delegate
/// reading the key from its context (no closure per call) and uses adaptive caching: the entry lives until the
/// refreshed token's refresh point. Fail-safe and eager refresh are off (the defaults).
/// </summary>
public sealed class FusionCachePeer : CachePeerBase
{
    private readonly FusionCache _cache;
    private readonly FusionCacheEntryOptions _options = new() { Duration = TimeSpan.FromMinutes(1) };
    private readonly Func<FusionCacheFactoryExecutionContext<CachedToken>, CancellationToken, Task<CachedToken>> _factory;

    /// <summary>Creates the peer.</summary>
    public FusionCachePeer(Upstream upstream, TimeSpan lead) : base(upstream, lead)
    {
        _cache = new FusionCache(new FusionCacheOptions());
        _factory = async (ctx, ct) =>
        {
            var token = await RefreshAsync(ctx.OriginalKey, ct).ConfigureAwait(false);
            ctx.Options.Duration = token.FreshFor(Time);
            return token;
        };
    }

    /// <inheritdoc />
    public override string Name => "FusionCache";

    /// <inheritdoc />
    protected override async Task SeedAsync(string accountId, CachedToken token) =>
        await _cache.SetAsync(accountId, token, new FusionCacheEntryOptions { Duration = token.FreshFor(Time) });

    /// <inheritdoc />
    public override ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        var pending = _cache.GetOrSetAsync(accountId, _factory, default, _options, null, cancellationToken);
        if (pending.IsCompletedSuccessfully && pending.Result.IsFresh(Time)) return new ValueTask<Secret>(pending.Result.AccessToken);
        return SlowAsync(accountId, pending, cancellationToken);
    }

    private async ValueTask<Secret> SlowAsync(string accountId, ValueTask<CachedToken> pending, CancellationToken cancellationToken)
    {
        var token = await pending.ConfigureAwait(false);
        for (var attempt = 0; !token.IsFresh(Time); attempt++)
        {
            if (attempt == 3) throw new PeerRefreshException("stale", null);
            await _cache.RemoveAsync(accountId, null, cancellationToken).ConfigureAwait(false);
            token = await _cache.GetOrSetAsync(accountId, _factory, default, _options, null, cancellationToken).ConfigureAwait(false);
        }
        return token.AccessToken;
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        _cache.Dispose();
        return ValueTask.CompletedTask;
    }
}
