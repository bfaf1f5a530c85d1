using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.TestKit;

namespace ActorRefresh.Hosting.Tests;

/// <summary>Pools and usage reports through <see cref="ITokenProvider"/> in a real host.</summary>
[Collection(HostCollection.Name)]
public sealed class PoolProviderTests
{
    private static readonly Dictionary<string, string?> PoolSettings = new()
    {
        ["ActorRefresh:Pools:main:Accounts:0"] = "a1",
        ["ActorRefresh:Pools:main:Accounts:1"] = "a2",
        ["ActorRefresh:Pools:main:Strategy"] = "priority",
        ["ActorRefresh:Pools:spread:Accounts:0"] = "a1",
        ["ActorRefresh:Pools:spread:Accounts:1"] = "a2",
        ["ActorRefresh:Pools:spread:Strategy"] = "round-robin",
        ["ActorRefresh:Pools:spread:MaxUtilisation"] = "80",
    };

    private static async Task<FakeAccountTokens> RegisterAsync(HostedEngine engine, string id)
    {
        var tokens = engine.Server.CreateAccount(id);
        await engine.Accounts.RegisterAsync(new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), tokens.ExpiresAt));
        return tokens;
    }

    [Fact]
    public async Task Pools_from_configuration_lease_by_priority_and_round_robin()
    {
        await using var engine = await HostedEngine.StartAsync(extra: PoolSettings);
        var t1 = await RegisterAsync(engine, "a1");
        await RegisterAsync(engine, "a2");

        Assert.Equal(["main", "spread"], engine.Pools.ListPools().Select(p => p.Name));
        var spread = engine.Pools.ListPools()[1];
        Assert.Equal(PoolStrategy.RoundRobin, spread.Strategy);
        Assert.Equal(80, spread.MaxUtilisation);

        var lease = await engine.Pools.LeaseAsync("main");
        Assert.Equal("a1", lease.AccountId);
        Assert.Equal(t1.AccessToken, lease.Token.Value.Reveal());
        Assert.Equal(t1.ExpiresAt, lease.ExpiresAt);
        Assert.Equal(["a1", "a2", "a1"], new[]
        {
            (await engine.Pools.LeaseAsync("spread")).AccountId,
            (await engine.Pools.LeaseAsync("spread")).AccountId,
            (await engine.Pools.LeaseAsync("spread")).AccountId,
        });
        Assert.Equal(0, engine.Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Reported_quota_and_api_429_steer_leases_and_the_pool_status_shows_why()
    {
        await using var engine = await HostedEngine.StartAsync(extra: PoolSettings);
        await RegisterAsync(engine, "a1");
        await RegisterAsync(engine, "a2");

        var reset = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var status = await engine.Pools.ReportUsageAsync("a1", 200, new Dictionary<string, string>
        {
            ["anthropic-ratelimit-unified-5h-utilization"] = "0.85",
            ["anthropic-ratelimit-unified-5h-reset"] = reset,
        });
        Assert.Equal(85, status.Usage!.FiveHourUtilization!.Value, 6);
        Assert.Equal("a1", (await engine.Pools.LeaseAsync("main")).AccountId); // below main's 90 %
        Assert.Equal("a2", (await engine.Pools.LeaseAsync("spread")).AccountId); // over spread's 80 %
        Assert.Equal("a2", (await engine.Pools.LeaseAsync("spread")).AccountId);

        await engine.Pools.ReportUsageAsync("a2", 429, [KeyValuePair.Create("Retry-After", "600")]);
        var none = await Assert.ThrowsAsync<NoUsableAccountException>(() => engine.Pools.LeaseAsync("spread").AsTask());
        Assert.Equal("spread", none.Pool);
        Assert.InRange(none.RetryAt!.Value, DateTimeOffset.UtcNow.AddMinutes(9), DateTimeOffset.UtcNow.AddMinutes(11));

        var pool = await engine.Pools.GetPoolAsync("spread");
        Assert.Equal(0, pool.UsableCount);
        Assert.Contains("utilisation", pool.Members[0].Reason);
        Assert.Contains("API cooldown", pool.Members[1].Reason);
        Assert.Equal(none.RetryAt, pool.NextUsableAt);
        Assert.Equal(AccountState.Valid, pool.Members[1].State);
        foreach (var token in engine.Server.IssuedTokens)
        {
            Assert.DoesNotContain(token, pool.ToString());
            Assert.DoesNotContain(token, none.ToString());
        }
    }

    [Fact]
    public async Task Unknown_pool_and_run_time_definitions()
    {
        await using var engine = await HostedEngine.StartAsync();
        await RegisterAsync(engine, "a1");
        await Assert.ThrowsAsync<PoolNotFoundException>(() => engine.Pools.LeaseAsync("nope").AsTask());
        await Assert.ThrowsAsync<PoolNotFoundException>(() => engine.Pools.GetPoolAsync("nope"));

        engine.Pools.DefinePool(new PoolDefinition("late", ["a1"], PoolStrategy.LeastUtilised));
        Assert.Equal("a1", (await engine.Pools.LeaseAsync("late")).AccountId);
        Assert.Throws<ArgumentException>(() => engine.Pools.DefinePool(new PoolDefinition("late", [])));
        Assert.True(engine.Pools.RemovePool("late"));
        await Assert.ThrowsAsync<PoolNotFoundException>(() => engine.Pools.LeaseAsync("late").AsTask());
        await Assert.ThrowsAsync<AccountNotFoundException>(() => engine.Pools.ReportUsageAsync("nobody", 200, []));
    }

    [Fact]
    public async Task Blocked_member_is_skipped_and_a_lease_under_concurrency_causes_no_refresh()
    {
        await using var engine = await HostedEngine.StartAsync(extra: PoolSettings);
        await RegisterAsync(engine, "a1");
        await RegisterAsync(engine, "a2");
        await engine.Accounts.BlockAsync("a1", "maintenance");

        // Bounded parallelism: truly concurrent callers without starving the other hosts' tests of threads.
        var leases = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (_, ct) => leases.Add((await engine.Pools.LeaseAsync("main", ct)).AccountId));
        Assert.Equal(1000, leases.Count);
        Assert.All(leases, id => Assert.Equal("a2", id));
        Assert.Equal(0, engine.Server.TotalRefreshCalls);
    }

    [Theory]
    [InlineData("ActorRefresh:Pools:bad:Strategy", "random", "ActorRefresh:Pools:bad:Strategy")]
    [InlineData("ActorRefresh:Pools:bad:MaxUtilisation", "150", "ActorRefresh:Pools:bad:MaxUtilisation")]
    public async Task Invalid_pool_settings_stop_the_start_naming_the_key(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = HostedEngine.NewDirectory(),
            [key] = value,
        };
        using var host = HostedEngine.Build(settings);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains(named, e.Message);
    }
}
