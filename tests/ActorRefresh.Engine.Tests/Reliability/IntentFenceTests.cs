using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>
/// The journal fence: an incarnation that recovers an open refresh intent whose deadline has not passed (the previous
/// incarnation's call may still be in flight) calls upstream only after that deadline. Standalone recovery is unchanged.
/// </summary>
public sealed class IntentFenceTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override TimeSpan ProviderRequestTimeout => TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_recovered_open_intent_is_waited_out_until_its_deadline_before_calling_again()
    {
        // On in cluster mode; this region is standalone, so the fence is switched on for the test.
        Services.WaitsOutRecoveredIntents = true;
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.Hang);
        var startedAt = Time.GetUtcNow();
        _ = AskAsync(new GetToken("a1"));
        // The upstream call has started, so the intent is in the journal.
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("a1")), Wait);

        // The incarnation goes away without an outcome (its node replaced); the call ends at the server.
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        await AwaitAssertAsync(() => Assert.Equal(0, Server.InFlightRefreshes("a1")), Wait);

        // A new incarnation recovers the open intent 10 s after it was written.
        Advance(TimeSpan.FromSeconds(10));
        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
        var deadline = startedAt + ProviderRequestTimeout + Options.RequestTimeoutGrace;

        var waiting = Assert.IsType<AccountProtocol.BackingOff>(await region.Ask<object>(new GetToken("a1"), Wait));
        Assert.Equal(deadline, waiting.Until);
        Assert.Equal(1, Server.RefreshCalls("a1"));

        // Just before the deadline: still no second call.
        Advance(deadline - Time.GetUtcNow() - TimeSpan.FromMilliseconds(1));
        Assert.IsType<AccountProtocol.BackingOff>(await region.Ask<object>(new GetToken("a1"), Wait));
        Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait));
        Assert.Equal(1, Server.RefreshCalls("a1"));

        // At the deadline the account refreshes, once.
        Advance(TimeSpan.FromMilliseconds(1));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("a1")), Wait);
        await AwaitAssertAsync(async () =>
            Assert.Equal(AccountState.Valid, Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status.State), Wait);
        Assert.Equal(2, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task A_standalone_process_recovering_an_open_intent_refreshes_at_once()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.Hang);
        _ = AskAsync(new GetToken("a1"));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("a1")), Wait);
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        await AwaitAssertAsync(() => Assert.Equal(0, Server.InFlightRefreshes("a1")), Wait);

        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
        Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("a1"), Wait));
        Assert.Equal(2, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task A_node_that_cannot_confirm_it_still_owns_the_account_spends_no_refresh_token_until_it_can()
    {
        // Cluster mode's MembershipGuard, replaced: false while this node hears no majority (frozen, cut off).
        var owner = new System.Runtime.CompilerServices.StrongBox<bool>(false);
        var checks = 0;
        Services.WaitsOutRecoveredIntents = true;
        Services.OwnershipCheck = () =>
        {
            Interlocked.Increment(ref checks);
            return Volatile.Read(ref owner.Value);
        };
        await RegisterAsync("fresh", lifetime: TimeSpan.FromHours(1));
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(1));

        // A token the account would serve is not handed out either: its successor may have replaced it.
        await Assert.ThrowsAsync<AccountUnavailableException>(() => AskAsync(new GetToken("fresh")));

        var waiting = AskAsync(new GetToken("a1"));
        await AwaitAssertAsync(() => Assert.True(Volatile.Read(ref checks) >= 2), Wait);
        // However often it looks again, nothing is journaled and nothing is sent; the caller keeps waiting.
        for (var i = 0; i < 8; i++)
        {
            var seen = Volatile.Read(ref checks);
            Advance(TimeSpan.FromMilliseconds(250));
            await AwaitAssertAsync(() => Assert.True(Volatile.Read(ref checks) > seen), Wait);
        }
        var held = await StatusAsync("a1");
        Assert.Equal(AccountState.Refreshing, held.State);
        Assert.Equal(0, Server.RefreshCalls("a1"));
        Assert.False(waiting.IsCompleted);

        // The node hears the cluster again: the refresh goes ahead, once, and the caller gets its token.
        Volatile.Write(ref owner.Value, true);
        Advance(TimeSpan.FromMilliseconds(250));
        Assert.IsType<TokenGranted>(await waiting);
        Assert.Equal(1, Server.RefreshCalls("a1"));
        Assert.False((await StatusAsync("a1")).RefreshTokenMaybeSpent);
    }

    [Fact]
    public async Task In_cluster_mode_a_refresh_whose_intent_took_half_its_window_to_journal_is_not_sent()
    {
        // Cluster mode: a successor waits out the intent's deadline, so the call must fit before it. Here journaling the
        // intent "takes" more than half the window: the clock moves on while the account checks its membership after the write.
        Services.WaitsOutRecoveredIntents = true;
        var armed = false;
        var checks = 0;
        Services.OwnershipCheck = () =>
        {
            // The second check of the refresh is the one after the intent's write.
            if (Volatile.Read(ref armed) && Interlocked.Increment(ref checks) == 2) Advance(Options.RequestTimeoutGrace + ProviderRequestTimeout / 2 + TimeSpan.FromSeconds(1));
            return true;
        };
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(1));
        Volatile.Write(ref armed, true);
        Advance(TimeSpan.FromSeconds(2)); // past the token's expiry: the next request refreshes

        _ = AskAsync(new GetToken("a1"));
        await AwaitAssertAsync(() => Assert.True(Volatile.Read(ref checks) >= 2), Wait);
        var status = await AwaitStatus("a1", s => s.State != AccountState.Refreshing);

        // Not sent: nothing reached the server and the refresh token is not counted as spent.
        Assert.Equal(0, Server.RefreshCalls("a1"));
        Assert.Equal(AccountState.BackingOff, status.State);
        Assert.False(status.RefreshTokenMaybeSpent);
    }

    private async Task<AccountStatus> AwaitStatus(string id, Func<AccountStatus, bool> until)
    {
        AccountStatus? status = null;
        await AwaitAssertAsync(async () => Assert.True(until(status = await StatusAsync(id))), Wait);
        return status!;
    }
}
