using System.Text;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Akka.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>What the journal keeps across actor and process restarts, and what it must not keep in clear.</summary>
public sealed class DurabilityTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override EngineOptions Options => new() { MaxRefreshesPerSecond = 10_000, SnapshotEvery = 3 };

    [Fact]
    public async Task Backoff_survives_an_actor_restart()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.RateLimited(TimeSpan.FromMinutes(10)));
        var backoff = Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));

        // Stop the whole region with its accounts and start a new one over the same journal.
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");

        var after = Assert.IsType<AccountProtocol.BackingOff>(await region.Ask<object>(new GetToken("a1"), Wait));
        Assert.Equal(backoff.Until, after.Until);
        Assert.Equal(1, Server.RefreshCalls("a1"));

        Advance(TimeSpan.FromMinutes(10));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("a1")), Wait);
        await AwaitAssertAsync(async () =>
            Assert.Equal(AccountState.Valid, Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status.State), Wait);
        Assert.Equal(0, Server.CallsDuringBackoff);
    }

    [Fact]
    public async Task Backoff_and_rotated_tokens_survive_a_process_restart_over_the_same_file()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        await RegisterAsync("a2", lifetime: TimeSpan.FromSeconds(10));
        // a2 rotates several times (crossing the snapshot interval), a1 ends rate limited.
        for (var i = 0; i < 4; i++)
        {
            Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("a2")));
            var expected = i + 1;
            await AwaitAssertAsync(async () => Assert.Equal(expected, (await StatusAsync("a2")).Counters.Refreshes), Wait);
        }
        Server.Script("a1", FakeFault.RateLimited(TimeSpan.FromMinutes(10)));
        var backoff = Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        await Sys.Terminate();

        var second = ActorSystem.Create("engine-restarted", Store.Config);
        try
        {
            var services = CreateServices(Server, new SchedulerTimeProvider(second.Scheduler), Options, new BackoffOptions());
            var region = second.ActorOf(AccountRegion.Props(services), "accounts");

            var after = Assert.IsType<AccountProtocol.BackingOff>(await region.Ask<object>(new GetToken("a1"), Wait));
            Assert.Equal(backoff.Until, after.Until);
            var a2 = Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("a2"), Wait));
            Assert.Equal(Server.Current("a2").AccessToken, a2.Token.Value.Reveal());
            Assert.Equal(1, Server.RefreshCalls("a1"));

            // The restarted engine's next rotation spends the latest refresh token: no reuse.
            Assert.IsType<StatusReply>(await region.Ask<object>(new ForceRefresh("a2"), Wait));
            await AwaitAssertAsync(() => Assert.Equal(5, Server.RefreshCalls("a2")), Wait);
            await AwaitAssertAsync(async () =>
                Assert.Equal(5, Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a2"), Wait)).Status.Counters.Refreshes), Wait);
            await services.DisposeAsync();
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Fact]
    public async Task Crash_between_intent_and_outcome_is_detected_and_reported_as_such()
    {
        ExpectReuse = true; // the provider rotated before the crash: the next refresh necessarily reuses
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.Hang);
        _ = AskAsync(new GetToken("a1"));
        // The upstream call has started, so the intent is in the journal.
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("a1")), Wait);
        await Sys.Terminate(); // the process dies before any outcome is journaled
        Server.RotateExternally("a1"); // the provider had rotated the token: the one unavoidable loss

        var second = ActorSystem.Create("engine-restarted", Store.Config);
        try
        {
            var services = CreateServices(Server, new SchedulerTimeProvider(second.Scheduler), Options, new BackoffOptions());
            var region = second.ActorOf(AccountRegion.Props(services), "accounts");
            var status = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
            Assert.True(status.RefreshTokenMaybeSpent);

            var reply = Assert.IsType<Blocked>(await region.Ask<object>(new GetToken("a1"), Wait));
            Assert.Contains("consumed by an interrupted refresh", reply.Reason);
            status = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
            Assert.Equal(AccountState.PolicyBlocked, status.State);
            Assert.Equal("interrupted_refresh", status.LastErrorClass);
            Assert.False(status.RefreshTokenMaybeSpent);
            await services.DisposeAsync();
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Fact]
    public async Task Journal_file_holds_no_token_in_clear_text()
    {
        for (var i = 0; i < 5; i++) await RegisterAsync($"a{i}", lifetime: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++) await TokenAsync($"a{i}"); // each refreshes once
        Server.Script("a0", FakeFault.NoRotation);
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("a0")));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("a0")), Wait);
        await Sys.Terminate(); // flush and close the database

        var text = string.Concat(Directory.GetFiles(Store.Directory, "actor-refresh.db*")
            .Select(f => Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        Assert.Contains("v3:", text); // the encrypted token fields are there
        var issued = Server.IssuedTokens;
        Assert.True(issued.Count >= 15);
        Assert.All(issued, token => Assert.DoesNotContain(token, text, StringComparison.Ordinal));
    }
}

/// <summary>The node-wide refresh limiter under an expiry storm.</summary>
public sealed class RefreshLimiterTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override EngineOptions Options => new() { MaxConcurrentRefreshes = 2, MaxRefreshesPerSecond = 10_000 };

    [Fact]
    public async Task No_more_than_K_refreshes_are_in_flight_when_many_tokens_expire_together()
    {
        const int accounts = 30;
        for (var i = 0; i < accounts; i++) await RegisterAsync($"s{i}", lifetime: TimeSpan.FromMinutes(1));
        Server.SetPersistentFault(FakeTokenServer.AllAccounts, FakeFault.Delay(TimeSpan.FromMilliseconds(50)));

        var replies = await Task.WhenAll(Enumerable.Range(0, accounts).Select(i => AskAsync(new GetToken($"s{i}"))));

        Assert.All(replies, r => Assert.IsType<TokenGranted>(r));
        Assert.Equal(accounts, Server.TotalRefreshCalls);
        Assert.InRange(Server.MaxConcurrentRefreshes, 1, 2);
    }
}
