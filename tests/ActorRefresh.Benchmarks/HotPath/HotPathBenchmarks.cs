using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Benchmarks.Peers;
using ActorRefresh.Core.Tokens;
using BenchmarkDotNet.Attributes;

namespace ActorRefresh.Benchmarks.HotPath;

/// <summary>
/// Scenario 1: a token request for a valid token, single thread, cycling over 1 or 10,000 accounts. Each contender
/// checks the token against its refresh point on every call.
/// </summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private const int Ops = 1024;

    private ITokenPeer _peer = null!;
    private PlainDictionaryPeer? _plain;
    private string[] _ids = [];
    private int _next;

    /// <summary>Account counts (set by the runner: 1 and 10,000; 1 and 1,000 in a quick run).</summary>
    public static IEnumerable<int> AccountCounts => HotPathFixtures.AccountCounts;

    /// <summary>Accounts cycled through.</summary>
    [ParamsSource(nameof(AccountCounts))]
    public int Accounts { get; set; }

    private void Setup(string name)
    {
        (_peer, _ids) = HotPathFixtures.Get(name, Accounts);
        _plain = _peer as PlainDictionaryPeer;
    }

    /// <summary>Setup of the ActorRefresh case.</summary>
    [GlobalSetup(Target = nameof(ActorRefresh))]
    public void SetupActorRefresh() => Setup("ActorRefresh");

    /// <summary>Setup of the dictionary cases.</summary>
    [GlobalSetup(Targets = [nameof(ConcurrentDictionary), nameof(BareLookupNoExpiryCheck)])]
    public void SetupDictionary() => Setup("ConcurrentDictionary");

    /// <summary>Setup of the Lazy case.</summary>
    [GlobalSetup(Target = nameof(LazyTaskDictionary))]
    public void SetupLazy() => Setup("Lazy<Task> dictionary");

    /// <summary>Setup of the HybridCache case.</summary>
    [GlobalSetup(Target = nameof(HybridCache))]
    public void SetupHybrid() => Setup("HybridCache");

    /// <summary>Setup of the FusionCache case.</summary>
    [GlobalSetup(Target = nameof(FusionCache))]
    public void SetupFusion() => Setup("FusionCache");


    private Secret Run()
    {
        Secret last = null!;
        var ids = _ids;
        var next = _next;
        for (var i = 0; i < Ops; i++)
        {
            if (++next >= ids.Length) next = 0;
            last = _peer.GetTokenAsync(ids[next]).GetAwaiter().GetResult();
        }
        _next = next;
        return last;
    }

    /// <summary>ActorRefresh ITokenProvider.GetTokenAsync (read side).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public Secret ActorRefresh() => Run();

    /// <summary>ConcurrentDictionary lookup + freshness check: the floor.</summary>
    [Benchmark(OperationsPerInvoke = Ops, Baseline = true)]
    public Secret ConcurrentDictionary() => Run();

    /// <summary>Per-key Lazy&lt;Task&gt; in a ConcurrentDictionary.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public Secret LazyTaskDictionary() => Run();

    /// <summary>HybridCache.GetOrCreateAsync.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public Secret HybridCache() => Run();

    /// <summary>FusionCache.GetOrSetAsync.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public Secret FusionCache() => Run();

    /// <summary>Informational: TryGetValue alone, no clock read (not a correct token cache).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public Secret? BareLookupNoExpiryCheck()
    {
        Secret? last = null;
        var ids = _ids;
        var next = _next;
        for (var i = 0; i < Ops; i++)
        {
            if (++next >= ids.Length) next = 0;
            last = _plain!.BareLookup(ids[next]);
        }
        _next = next;
        return last;
    }
}

/// <summary>
/// Contenders with their accounts, built once per (contender, account count) and shared by the BenchmarkDotNet cases
/// (in-process) and the thread harness: registering thousands of accounts with the engine is journaled and takes a while.
/// </summary>
public static class HotPathFixtures
{
    private static readonly TimeSpan Lead = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);
    private static readonly Dictionary<string, (Upstream Upstream, ITokenPeer Peer, string[] Ids)> Built = [];

    /// <summary>Account counts measured.</summary>
    public static int[] AccountCounts { get; set; } = [1, 10_000];

    /// <summary>The contender with <paramref name="accounts"/> accounts, all answering from cache.</summary>
    public static (ITokenPeer Peer, string[] Ids) Get(string name, int accounts)
    {
        var key = $"{name}/{accounts}";
        lock (Built)
        {
            if (!Built.TryGetValue(key, out var built))
            {
                var upstream = Upstream.StartAsync(TimeSpan.Zero, Lifetime).GetAwaiter().GetResult();
                var peer = PeerFactory.CreateAsync(name, upstream, Lead, Lifetime).GetAwaiter().GetResult();
                var ids = PeerFactory.AddAccountsAsync(peer, upstream, "hot", accounts).GetAwaiter().GetResult();
                foreach (var id in ids) peer.GetTokenAsync(id).AsTask().GetAwaiter().GetResult();
                Built[key] = built = (upstream, peer, ids);
            }
            return (built.Peer, built.Ids);
        }
    }

    /// <summary>Stops everything built.</summary>
    public static async Task DisposeAllAsync()
    {
        foreach (var (upstream, peer, _) in Built.Values)
        {
            await peer.DisposeAsync();
            await upstream.DisposeAsync();
        }
        Built.Clear();
    }
}
