using ActorRefresh.Benchmarks.Peers;

namespace ActorRefresh.Benchmarks.Infra;

/// <summary>Creates each contender over one upstream with the same lead time.</summary>
public static class PeerFactory
{
    /// <summary>Names of the contenders, in the order results show them.</summary>
    public static readonly string[] Names = ["ActorRefresh", "ConcurrentDictionary", "Lazy<Task> dictionary", "HybridCache", "FusionCache"];

    /// <summary>Creates the contender named <paramref name="name"/>.</summary>
    public static async Task<ITokenPeer> CreateAsync(string name, Upstream upstream, TimeSpan lead, TimeSpan tokenLifetime, IDictionary<string, string?>? engine = null)
    {
        engine ??= new Dictionary<string, string?>();
        engine.TryAdd("RefreshLead", lead.ToString("c"));
        return name switch
        {
            "ActorRefresh" => await ActorRefreshPeer.StartAsync(upstream, engine),
            "ConcurrentDictionary" => new PlainDictionaryPeer(upstream, lead),
            "Lazy<Task> dictionary" => new LazyTaskPeer(upstream, lead),
            "HybridCache" => new HybridCachePeer(upstream, lead, tokenLifetime),
            "FusionCache" => new FusionCachePeer(upstream, lead),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown contender"),
        };
    }

    /// <summary>Creates <paramref name="count"/> accounts on the fake server and adds them to <paramref name="peer"/>, 64 at a time.</summary>
    public static async Task<string[]> AddAccountsAsync(ITokenPeer peer, Upstream upstream, string prefix, int count, Func<int, DateTimeOffset>? expiresAt = null)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"{prefix}-{i}").ToArray();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
        {
            var tokens = upstream.Server.CreateAccount(ids[i]);
            await peer.AddAsync(ids[i], tokens.RefreshToken, tokens.AccessToken, expiresAt?.Invoke(i) ?? tokens.ExpiresAt);
        });
        return ids;
    }
}
