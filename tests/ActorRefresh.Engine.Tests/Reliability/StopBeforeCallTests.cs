using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>
/// A refresh still queued for a limiter permit when a hand-off (the shard's <see cref="Clustering.StopAccount"/>) or a
/// shutdown drain reaches the account must not start its upstream call afterwards: the account (or its next incarnation on
/// another node) would otherwise call with a refresh token the stopping incarnation is about to leave behind. The attempt
/// ends without a call, the intent is never opened, and the waiting caller is told the account is unavailable.
/// </summary>
public sealed class StopBeforeCallTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override EngineOptions Options => new() { MaxRefreshesPerSecond = 10_000, MaxConcurrentRefreshes = 1 };

    protected override TimeSpan ProviderRequestTimeout => TimeSpan.FromMinutes(2);

    private async Task RegisterWithoutAccessTokenAsync(string id)
    {
        var tokens = Server.CreateAccount(id);
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken)))));
    }

    /// <summary>"holder" takes the only refresh permit (its call hangs); "victim" then queues for one with a caller waiting.</summary>
    private async Task<Task<object>> QueueVictimBehindHolderAsync()
    {
        await RegisterWithoutAccessTokenAsync("holder");
        Server.Script("holder", FakeFault.Hang);
        Region.Tell(new GetToken("holder"));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("holder")), Wait);

        await RegisterWithoutAccessTokenAsync("victim");
        var waiter = Region.Ask<object>(new GetToken("victim"), Wait);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Refreshing, (await StatusAsync("victim")).State), Wait);
        Assert.Equal(0, Server.RefreshCalls("victim"));
        return waiter;
    }

    private async Task ReleaseTheHolderAsync()
    {
        var holder = await Sys.ActorSelection("/user/accounts/holder/account").ResolveOne(Wait);
        Watch(holder);
        Sys.Stop(holder);
        ExpectTerminated(holder, Wait);
        // The permit is free again: a refresh that still wanted it would now reach the provider.
        await AwaitAssertAsync(() => Assert.Equal((1L, 0L), Services.Limiter.Permits("claude")), Wait);
    }

    [Fact]
    public async Task A_refresh_queued_for_a_permit_when_the_hand_off_stop_arrives_is_never_sent()
    {
        var waiter = await QueueVictimBehindHolderAsync();
        var supervisor = await Sys.ActorSelection("/user/accounts/victim").ResolveOne(Wait);
        Watch(supervisor);
        // What the shard sends on a hand-off: the supervisor's final-stop message, passed on to the account.
        supervisor.Tell(Clustering.StopAccount.Instance);

        await Assert.ThrowsAsync<AccountUnavailableException>(() => waiter);
        ExpectTerminated(supervisor, Wait);
        await ReleaseTheHolderAsync();
        Assert.Equal(0, Server.RefreshCalls("victim"));

        // The next incarnation recovers no open intent and refreshes with the same, unspent, refresh token.
        var token = await TokenAsync("victim");
        Assert.Equal(Server.Current("victim").AccessToken, token.Value.Reveal());
        var status = await StatusAsync("victim");
        Assert.Equal(AccountState.Valid, status.State);
        Assert.False(status.RefreshTokenMaybeSpent);
        Assert.Equal(0, Server.CountersOf("victim").RefreshTokenReuse);
    }

    [Fact]
    public async Task A_refresh_queued_for_a_permit_when_a_drain_starts_is_never_sent_and_the_drain_is_answered_at_once()
    {
        var waiter = await QueueVictimBehindHolderAsync();
        var account = await Sys.ActorSelection("/user/accounts/victim/account").ResolveOne(Wait);

        Assert.IsType<Drained>(await account.Ask<object>(new Drain("victim"), Wait));
        await Assert.ThrowsAsync<AccountUnavailableException>(() => waiter);
        await ReleaseTheHolderAsync();
        Assert.Equal(0, Server.RefreshCalls("victim"));
        var status = await StatusAsync("victim");
        Assert.NotEqual(AccountState.Refreshing, status.State);
        Assert.False(status.RefreshTokenMaybeSpent);
    }
}
