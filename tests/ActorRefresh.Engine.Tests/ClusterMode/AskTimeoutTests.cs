using ActorRefresh.Core.Providers;
using ActorRefresh.Engine.Clustering;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>
/// The ask timeout callers wait for is derived from what the engine may legitimately take before it answers, so a
/// registration or a token request is held through a refresh, a recovery or a shard move instead of failing.
/// </summary>
public sealed class AskTimeoutTests
{
    private static IProviderRegistry Providers(TimeSpan longest)
    {
        var claude = BuiltInProviders.Claude;
        claude.RequestTimeout = TimeSpan.FromSeconds(2);
        var slow = BuiltInProviders.Generic;
        slow.Name = "slow";
        slow.RequestTimeout = longest;
        return new Registry(new Dictionary<string, ProviderProfile> { ["claude"] = claude, ["slow"] = slow });
    }

    private sealed class Registry(Dictionary<string, ProviderProfile> profiles) : IProviderRegistry
    {
        public IReadOnlyCollection<string> Names => profiles.Keys;

        public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ProviderProfile? profile) =>
            profiles.TryGetValue(name, out profile);
    }

    [Fact]
    public void Standalone_it_covers_a_journal_recovery_and_the_longest_refresh()
    {
        var options = new EngineOptions { RequestTimeoutGrace = TimeSpan.FromSeconds(5) };
        var derived = EngineServices.DerivedAskTimeout(options, Providers(TimeSpan.FromSeconds(90)), cluster: null);
        Assert.Equal(EngineHocon.RecoveryTimeout + TimeSpan.FromSeconds(95), derived);
        Assert.Equal(TimeSpan.FromSeconds(10), EngineHocon.RecoveryTimeout);
    }

    [Theory]
    [InlineData(ClusterTimings.Test, 3, 10)]
    [InlineData(ClusterTimings.Production, 15, 25)]
    public void In_a_cluster_it_also_covers_the_move_of_a_lost_nodes_shards(ClusterTimings timings, int minMoveSeconds, int maxMoveSeconds)
    {
        var cluster = new ClusterOptions { Enabled = true, Timings = timings };
        var move = EngineHocon.ShardMoveTime(cluster);
        Assert.InRange(move, TimeSpan.FromSeconds(minMoveSeconds), TimeSpan.FromSeconds(maxMoveSeconds));
        var options = new EngineOptions();
        var providers = Providers(TimeSpan.FromSeconds(30));
        Assert.Equal(EngineServices.DerivedAskTimeout(options, providers, null) + move, EngineServices.DerivedAskTimeout(options, providers, cluster));
    }

    [Fact]
    public void A_configured_value_is_used_as_given_and_must_be_positive()
    {
        Assert.Empty(new EngineOptions { AskTimeout = TimeSpan.FromSeconds(3) }.Validate());
        var error = Assert.Single(new EngineOptions { AskTimeout = TimeSpan.Zero }.Validate());
        Assert.Contains("ActorRefresh:Engine:AskTimeout", error);
    }
}
