using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>
/// Limiter permits are released exactly once whatever happens to the account that asked for one. With one refresh permit
/// (and one usage-check permit) per provider, an account is stopped at each point of a permit's life — queued, granted
/// while the answer still waits in its mailbox, held during the call — and another account must then still refresh and
/// check its quota. A lost permit would make it wait forever. The account "victim" runs on a dispatcher the test can
/// close, so a limiter's answer can be made to wait in its mailbox while the stop overtakes it.
/// </summary>
public sealed class PermitLeakTests(ITestOutputHelper output)
    : EngineTest(output, GatedDispatcher.Hocon(GateId, "/accounts/victim/account"))
{
    private const string GateId = "victim-gate";

    // Usage checks fire 4.5 minutes after registration (interval 5 min, jitter 1 min, jitter source 0.5).
    private static readonly TimeSpan UsageDue = TimeSpan.FromSeconds(270);

    protected override EngineOptions Options => new() { MaxRefreshesPerSecond = 10_000, MaxConcurrentRefreshes = 1, MaxConcurrentUsageChecks = 1 };

    // A hanging call holds its permit until this (wall-clock) timeout: longer than any wait of these tests.
    protected override TimeSpan ProviderRequestTimeout => TimeSpan.FromMinutes(2);

    private GatedDispatcher Gate => (GatedDispatcher)Sys.Dispatchers.Lookup(GateId);

    private async Task RegisterWithoutAccessTokenAsync(string id)
    {
        var tokens = Server.CreateAccount(id);
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken)))));
    }

    private Task<IActorRef> AccountActorAsync(string id) => Sys.ActorSelection($"/user/accounts/{id}/account").ResolveOne(Wait);

    private async Task StopAsync(string id) => StopActor(await AccountActorAsync(id));

    private void StopActor(IActorRef actor, Action? whileStopping = null)
    {
        Watch(actor);
        Sys.Stop(actor);
        whileStopping?.Invoke();
        ExpectTerminated(actor, Wait);
        Unwatch(actor);
    }

    /// <summary>"holder" takes the only refresh permit and keeps it: its refresh call hangs upstream.</summary>
    private async Task HoldTheRefreshPermitAsync()
    {
        await RegisterWithoutAccessTokenAsync("holder");
        Server.Script("holder", FakeFault.Hang);
        Region.Tell(new GetToken("holder"));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("holder")), Wait);
    }

    /// <summary>"victim" asks for a refresh permit and waits for it behind "holder".</summary>
    private async Task QueueVictimRefreshAsync()
    {
        await RegisterWithoutAccessTokenAsync("victim");
        Region.Tell(new GetToken("victim"));
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Refreshing, (await StatusAsync("victim")).State), Wait);
        Assert.Equal(0, Server.RefreshCalls("victim"));
    }

    /// <summary>"holder" holds the only usage permit (its usage call hangs); "victim" then waits for a usage permit behind it.</summary>
    private async Task QueueVictimUsageCheckAsync()
    {
        await RegisterAsync("holder");
        Server.ScriptUsage("holder", FakeUsageFault.Hang);
        Advance(TimeSpan.FromSeconds(2));
        await RegisterAsync("victim");
        Advance(UsageDue - TimeSpan.FromSeconds(2)); // holder's check starts and hangs
        await AwaitAssertAsync(() => Assert.Equal(1, Server.UsageCalls("holder")), Wait);
        Advance(TimeSpan.FromSeconds(2)); // victim's check is due and queues
        await StatusAsync("victim");
        Assert.Equal(0, Server.UsageCalls("victim"));
    }

    /// <summary>Stops the victim after the limiter granted its permit but before the victim read the answer.</summary>
    private async Task StopVictimWithTheGrantInItsMailboxAsync(string holder)
    {
        var victim = await AccountActorAsync("victim");
        Gate.Close();
        try
        {
            await StopAsync(holder); // releases holder's permit: the limiter grants it to victim at once
            var cell = ((ActorRefWithCell)victim).Underlying;
            await AwaitConditionAsync(() => Task.FromResult(cell.NumberOfMessages >= 1), Wait);
            StopActor(victim, whileStopping: Gate.Open);
        }
        finally
        {
            Gate.Open();
        }
    }

    /// <summary>Another account still refreshes, and still checks its quota: no permit was lost.</summary>
    private async Task AnotherAccountRefreshesAndChecksAsync()
    {
        await RegisterWithoutAccessTokenAsync("other");
        var token = await TokenAsync("other");
        Assert.Equal(Server.Current("other").AccessToken, token.Value.Reveal());
        Advance(UsageDue);
        await AwaitAssertAsync(async () => Assert.Equal("observed", (await StatusAsync("other")).Usage?.LastCheck), Wait);

        // Once everything settled, every permit is back.
        await AwaitAssertAsync(() =>
        {
            Assert.Equal((1L, 0L), Services.Limiter.Permits("claude"));
            Assert.Equal((1L, 0L), Services.UsageLimiter.Permits("claude"));
        }, Wait);
    }

    [Fact]
    public async Task Refresh_permit_queued_when_the_account_stops_is_not_lost()
    {
        await HoldTheRefreshPermitAsync();
        await QueueVictimRefreshAsync();
        await StopAsync("victim");
        await StopAsync("holder");
        await AnotherAccountRefreshesAndChecksAsync();
    }

    [Fact]
    public async Task Refresh_permit_granted_while_its_answer_waits_in_the_mailbox_of_a_stopping_account_is_not_lost()
    {
        await HoldTheRefreshPermitAsync();
        await QueueVictimRefreshAsync();
        await StopVictimWithTheGrantInItsMailboxAsync("holder");
        await AnotherAccountRefreshesAndChecksAsync();
    }

    [Fact]
    public async Task Refresh_permit_held_during_the_call_of_a_stopping_account_is_not_lost()
    {
        await RegisterWithoutAccessTokenAsync("victim");
        Server.Script("victim", FakeFault.Hang);
        Region.Tell(new GetToken("victim"));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("victim")), Wait);
        await StopAsync("victim");
        await AnotherAccountRefreshesAndChecksAsync();
    }

    [Fact]
    public async Task Usage_permit_queued_when_the_account_stops_is_not_lost()
    {
        await QueueVictimUsageCheckAsync();
        await StopAsync("victim");
        await StopAsync("holder");
        await AnotherAccountRefreshesAndChecksAsync();
    }

    [Fact]
    public async Task Usage_permit_granted_while_its_answer_waits_in_the_mailbox_of_a_stopping_account_is_not_lost()
    {
        await QueueVictimUsageCheckAsync();
        await StopVictimWithTheGrantInItsMailboxAsync("holder");
        await AnotherAccountRefreshesAndChecksAsync();
    }

    [Fact]
    public async Task Usage_permit_held_during_the_check_of_a_stopping_account_is_not_lost()
    {
        await RegisterAsync("victim");
        Server.ScriptUsage("victim", FakeUsageFault.Hang);
        Advance(UsageDue);
        await AwaitAssertAsync(() => Assert.Equal(1, Server.UsageCalls("victim")), Wait);
        await StopAsync("victim");
        await AnotherAccountRefreshesAndChecksAsync();
    }

    [Fact]
    public async Task A_hanging_usage_endpoint_does_not_hold_up_refreshes()
    {
        await RegisterAsync("hanging");
        Server.SetPersistentUsageFault("hanging", FakeUsageFault.Hang);
        Advance(UsageDue);
        await AwaitAssertAsync(() => Assert.Equal(1, Server.UsageCalls("hanging")), Wait);

        // The usage check is still in flight (virtual time stands still, so it never times out): a refresh goes ahead.
        await RegisterWithoutAccessTokenAsync("other");
        var token = await TokenAsync("other");
        Assert.Equal(Server.Current("other").AccessToken, token.Value.Reveal());
        Assert.Equal(1, Server.RefreshCalls("other"));
        Assert.Null((await StatusAsync("hanging")).Usage?.LastCheck); // and the check is indeed still hanging
    }
}
