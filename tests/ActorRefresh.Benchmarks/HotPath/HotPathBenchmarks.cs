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
    private static readonly TimeSpan Lead = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    private Upstream _upstream = null!;
    private ITokenPeer _peer = null!;
    private PlainDictionaryPeer? _plain;
    private string[] _ids = [];
    private int _next;

    /// <summary>Accounts cycled through.</summary>
    [Params(1, 10_000)]
    public int Accounts { get; set; }

    private void Setup(string name)
    {
        _upstream = Upstream.StartAsync(TimeSpan.Zero, Lifetime).GetAwaiter().GetResult();
        _peer = PeerFactory.CreateAsync(name, _upstream, Lead, Lifetime).GetAwaiter().GetResult();
        _plain = _peer as PlainDictionaryPeer;
        _ids = PeerFactory.AddAccountsAsync(_peer, _upstream, "hot", Accounts).GetAwaiter().GetResult();
        // Every account answers from its cache before measuring starts.
        foreach (var id in _ids) _peer.GetTokenAsync(id).AsTask().GetAwaiter().GetResult();
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

    /// <summary>Stops whatever the setup started.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _peer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _upstream.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

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
