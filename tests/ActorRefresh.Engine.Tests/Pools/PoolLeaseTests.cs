using System.Globalization;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Pools;

/// <summary>
/// Pool selection from the read side with accounts in every state, under each strategy, and under 1,000 concurrent
/// callers. Usage polling is pushed out of the way (10-hour interval) so the quota each test reports stays put.
/// </summary>
public sealed class PoolLeaseTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override EngineOptions Options => new()
    {
        MaxRefreshesPerSecond = 10_000,
        MaxConcurrentRefreshes = 8,
        UsageCheckInterval = TimeSpan.FromHours(10),
    };

    private AccountPools Pools { get; } = new();

    private PoolLeaser Leaser => new(Pools, Services);

    private async ValueTask<AccessToken?> ViaAccount(string accountId, CancellationToken cancellationToken) =>
        await AskAsync(new GetToken(accountId)) is TokenGranted granted ? granted.Token : null;

    private ValueTask<LeaseResult> LeaseAsync(string pool, PoolLeaser? leaser = null) => (leaser ?? Leaser).LeaseAsync(pool, ViaAccount, CancellationToken.None);

    private async Task<string> LeasedAsync(string pool, PoolLeaser? leaser = null)
    {
        var result = await LeaseAsync(pool, leaser);
        Assert.Equal(LeaseFailure.None, result.Failure);
        return result.Lease!.AccountId;
    }

    private void Define(string name, PoolStrategy strategy, params string[] accounts) =>
        Pools.Define(new PoolDefinition(name, accounts, strategy));

    private Task ReportUtilisationAsync(string id, double fraction, TimeSpan resetIn) =>
        AskAsync(new ReportUsage(id, 200,
        [
            KeyValuePair.Create("anthropic-ratelimit-unified-5h-utilization", fraction.ToString(CultureInfo.InvariantCulture)),
            KeyValuePair.Create("anthropic-ratelimit-unified-5h-reset", (Time.GetUtcNow() + resetIn).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)),
        ]));

    /// <summary>One account per state: blocked, over the threshold, in API cooldown, backing off without a valid token,
    /// backing off with a still-valid token, past its refresh point (needs a refresh), and two valid ones.</summary>
    private async Task EveryStateAsync()
    {
        await RegisterAsync("valid1");
        await RegisterAsync("valid2");
        await RegisterAsync("blocked");
        await AskAsync(new Block("blocked", "maintenance"));
        await RegisterAsync("hot");
        await ReportUtilisationAsync("hot", 0.95, TimeSpan.FromHours(1));
        await RegisterAsync("cooldown");
        await AskAsync(new ReportUsage("cooldown", 429, [KeyValuePair.Create("retry-after", "300")]));
        await RegisterAsync("boff-dead", lifetime: TimeSpan.FromSeconds(20));
        Server.Script("boff-dead", FakeFault.RateLimited(TimeSpan.FromMinutes(10)));
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("boff-dead")));
        await RegisterAsync("boff-valid", lifetime: TimeSpan.FromMinutes(4));
        Server.Script("boff-valid", FakeFault.ServerError(503));
        await TokenAsync("boff-valid"); // the refresh fails; the old token is still valid for 4 minutes
        Assert.Equal(AccountState.BackingOff, (await StatusAsync("boff-valid")).State);
        await RegisterAsync("stale", lifetime: TimeSpan.FromMinutes(4)); // inside the lead: Valid, no fresh token published
        Assert.False(Services.ReadSide.TryGetFreshToken("stale", out _));
        Server.ResetCounters();
    }

    [Fact]
    public async Task Priority_falls_back_in_order_past_every_unusable_state()
    {
        await EveryStateAsync();
        Define("p", PoolStrategy.Priority, "blocked", "hot", "cooldown", "boff-dead", "ghost", "valid1", "valid2");

        var result = await LeaseAsync("p");
        Assert.Equal("valid1", result.Lease!.AccountId);
        Assert.Equal(Server.Current("valid1").AccessToken, result.Lease.Token.Value.Reveal());
        Assert.Equal("valid1", await LeasedAsync("p"));

        await AskAsync(new Block("valid1", "drained"));
        Assert.Equal("valid2", await LeasedAsync("p"));
        Assert.Equal(0, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Backing_off_account_with_a_still_valid_token_is_leased_without_a_refresh()
    {
        await EveryStateAsync();
        Define("p", PoolStrategy.Priority, "boff-dead", "boff-valid", "valid1");

        var lease = (await LeaseAsync("p")).Lease!;
        Assert.Equal("boff-valid", lease.AccountId);
        Assert.True(lease.ExpiresAt > Time.GetUtcNow().AddMinutes(3));
        Assert.Equal(0, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Accounts_with_a_token_ready_are_preferred_over_one_that_needs_a_refresh()
    {
        await EveryStateAsync();
        Define("p", PoolStrategy.Priority, "stale", "valid1");
        Assert.Equal("valid1", await LeasedAsync("p"));
        Assert.Equal(0, Server.TotalRefreshCalls);

        // Alone, the stale account is refreshed once, as its expiry requires, and leased.
        Define("only", PoolStrategy.Priority, "blocked", "stale");
        var lease = (await LeaseAsync("only")).Lease!;
        Assert.Equal("stale", lease.AccountId);
        Assert.Equal(Server.Current("stale").AccessToken, lease.Token.Value.Reveal());
        Assert.Equal(1, Server.RefreshCalls("stale"));
        Assert.Equal("stale", await LeasedAsync("only"));
        Assert.Equal(1, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Pool_status_names_each_member_state_and_when_it_becomes_usable()
    {
        await EveryStateAsync();
        Define("p", PoolStrategy.Priority, "blocked", "hot", "cooldown", "boff-dead", "boff-valid", "stale", "ghost", "valid1");
        var now = Time.GetUtcNow();
        var status = Leaser.Describe("p")!;
        var m = status.Members.ToDictionary(x => x.AccountId);

        Assert.False(m["blocked"].Usable);
        Assert.Contains("blocked", m["blocked"].Reason);
        Assert.Null(m["blocked"].UsableAt);
        Assert.False(m["hot"].Usable);
        Assert.Equal(95, m["hot"].Utilisation, 6);
        Assert.Equal(now.AddHours(1), m["hot"].UsableAt!.Value, TimeSpan.FromSeconds(1));
        Assert.False(m["cooldown"].Usable);
        Assert.Equal(now.AddSeconds(300), m["cooldown"].UsableAt);
        Assert.False(m["boff-dead"].Usable);
        Assert.Equal((await StatusAsync("boff-dead")).RetryAt, m["boff-dead"].UsableAt);
        Assert.True(m["boff-valid"].Usable);
        Assert.True(m["stale"].Usable);
        Assert.False(m["ghost"].Usable);
        Assert.Null(m["ghost"].State);
        Assert.True(m["valid1"].Usable);
        Assert.Null(status.NextUsableAt);
        Assert.Equal(3, status.UsableCount);
        Assert.Null(Leaser.Describe("nope"));
    }

    [Fact]
    public async Task No_usable_account_reports_the_earliest_time_one_becomes_usable_and_then_leases_it()
    {
        await EveryStateAsync();
        Define("p", PoolStrategy.Priority, "blocked", "hot", "cooldown", "boff-dead", "ghost");

        var none = await LeaseAsync("p");
        Assert.Equal(LeaseFailure.NoneUsable, none.Failure);
        Assert.Equal(Time.GetUtcNow().AddSeconds(300), none.EarliestUsableAt); // the cooldown ends first
        Assert.Equal(none.EarliestUsableAt, Leaser.Describe("p")!.NextUsableAt);

        Advance(TimeSpan.FromSeconds(300));
        Assert.Equal("cooldown", await LeasedAsync("p"));
    }

    [Fact]
    public async Task Unknown_pool_is_reported()
    {
        Assert.Equal(LeaseFailure.PoolNotFound, (await LeaseAsync("nope")).Failure);
    }

    [Fact]
    public async Task Round_robin_takes_usable_accounts_in_turn()
    {
        await EveryStateAsync();
        Define("rr", PoolStrategy.RoundRobin, "valid1", "blocked", "hot", "valid2", "cooldown");
        var leased = new List<string>();
        for (var i = 0; i < 4; i++) leased.Add(await LeasedAsync("rr"));
        Assert.Equal(["valid1", "valid2", "valid1", "valid2"], leased);
    }

    [Fact]
    public async Task Least_utilised_takes_the_lowest_utilisation_below_the_threshold()
    {
        await RegisterAsync("a");
        await RegisterAsync("b");
        await RegisterAsync("c");
        await ReportUtilisationAsync("a", 0.60, TimeSpan.FromHours(2));
        await ReportUtilisationAsync("b", 0.20, TimeSpan.FromHours(2));
        await ReportUtilisationAsync("c", 0.35, TimeSpan.FromHours(2));
        Pools.Define(new PoolDefinition("lu", ["a", "b", "c"], PoolStrategy.LeastUtilised, MaxUtilisation: 50));
        Assert.Equal("b", await LeasedAsync("lu"));

        await ReportUtilisationAsync("b", 0.70, TimeSpan.FromHours(2)); // now over this pool's 50 %
        Assert.Equal("c", await LeasedAsync("lu"));

        // When b's window resets, its utilisation no longer counts.
        await ReportUtilisationAsync("b", 0.70, TimeSpan.FromMinutes(10));
        Advance(TimeSpan.FromMinutes(10));
        Assert.Equal("b", await LeasedAsync("lu"));
    }

    [Fact]
    public async Task A_thousand_concurrent_leases_over_fresh_accounts_cause_no_refresh()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"acct{i}").ToArray();
        foreach (var id in ids) await RegisterAsync(id);
        Define("big", PoolStrategy.RoundRobin, ids);
        var leaser = Leaser;

        var leases = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => Task.Run(async () => await LeasedAsync("big", leaser))));

        Assert.Equal(0, Server.TotalRefreshCalls);
        Assert.All(ids, id => Assert.Equal(100, leases.Count(l => l == id))); // round-robin spreads evenly
    }

    [Fact]
    public async Task A_thousand_concurrent_leases_over_accounts_past_their_refresh_point_refresh_each_once()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"acct{i}").ToArray();
        foreach (var id in ids) await RegisterAsync(id, lifetime: TimeSpan.FromMinutes(4));
        Server.Script(FakeTokenServer.AllAccounts, FakeFault.Delay(TimeSpan.FromMilliseconds(50)));
        Define("big", PoolStrategy.RoundRobin, ids);
        var leaser = Leaser;

        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => Task.Run(async () => (await LeaseAsync("big", leaser)).Lease!)));

        Assert.All(ids, id => Assert.Equal(1, Server.RefreshCalls(id)));
        Assert.Equal(ids.Length, Server.TotalRefreshCalls);
        Assert.All(results, l => Assert.Equal(Server.Current(l.AccountId).AccessToken, l.Token.Value.Reveal()));
    }

    [Fact]
    public void Definitions_are_validated_and_replaced_at_run_time()
    {
        Assert.Throws<ArgumentException>(() => Pools.Define(new PoolDefinition("bad name", ["a"])));
        Assert.Throws<ArgumentException>(() => Pools.Define(new PoolDefinition("p", [])));
        Assert.Throws<ArgumentException>(() => Pools.Define(new PoolDefinition("p", ["a", "a"])));
        Assert.Throws<ArgumentException>(() => Pools.Define(new PoolDefinition("p", ["a"], MaxUtilisation: 0)));
        Pools.Define(new PoolDefinition("p", ["a"]));
        Pools.Define(new PoolDefinition("p", ["b", "c"], PoolStrategy.RoundRobin));
        Assert.Equal(["b", "c"], Assert.Single(Pools.List()).Accounts);
        Assert.True(Pools.Remove("p"));
        Assert.False(Pools.Remove("p"));
        Assert.Empty(Pools.List());
    }

    [Theory]
    [InlineData("priority", PoolStrategy.Priority)]
    [InlineData("round-robin", PoolStrategy.RoundRobin)]
    [InlineData("Least-Utilised", PoolStrategy.LeastUtilised)]
    [InlineData("least_utilized", PoolStrategy.LeastUtilised)]
    [InlineData("", PoolStrategy.Priority)]
    public void Strategy_names_parse(string text, PoolStrategy expected)
    {
        Assert.True(PoolStrategies.TryParse(text, out var strategy));
        Assert.Equal(expected, strategy);
        Assert.False(PoolStrategies.TryParse("random", out _));
    }
}
