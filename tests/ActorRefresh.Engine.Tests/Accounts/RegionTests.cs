using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using Akka.Actor;
using Akka.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>The standalone region and the directory: which account actors exist, and what the directory journals.</summary>
public sealed class RegionTests(ITestOutputHelper output) : EngineTest(output)
{
    /// <summary>The live actor at <paramref name="path"/>, or null (Identify is answered for a path that holds nothing).</summary>
    private async Task<IActorRef?> ResolveAsync(ActorPath path)
    {
        var identity = await Sys.ActorSelection(path).Ask<ActorIdentity>(new Identify(path.ToString()), Wait);
        return identity.Subject;
    }

    [Fact]
    public async Task A_removed_account_stops_with_its_supervisor()
    {
        await RegisterAsync("r1");
        await RegisterAsync("r2");
        var supervisor = await ResolveAsync(Region.Path / "r1");
        var account = await ResolveAsync(Region.Path / "r1" / "account");
        Assert.NotNull(supervisor);
        Assert.NotNull(account);
        Watch(supervisor!);
        Watch(account!);

        Assert.IsType<StatusReply>(await AskAsync(new Remove("r1")));
        await ExpectTerminatedAsync(account!, Wait);
        await ExpectTerminatedAsync(supervisor!, Wait);
        Assert.Null(await ResolveAsync(Region.Path / "r1"));
        Assert.NotNull(await ResolveAsync(Region.Path / "r2" / "account"));
        Assert.IsType<NotRegistered>(await AskAsync(new GetToken("r1")));

        // The id can be registered again: a new incarnation starts from the removal.
        var again = Server.CreateAccount("r1-again");
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials(
            "r1", "claude", new Secret(again.RefreshToken), new Secret(again.AccessToken), again.ExpiresAt))));
        Assert.Equal(again.AccessToken, (await TokenAsync("r1")).Value.Reveal());
    }

    [Fact]
    public async Task A_registration_right_after_a_removal_is_not_lost_while_the_old_actor_stops()
    {
        for (var round = 0; round < 20; round++)
        {
            var id = $"q{round}";
            await RegisterAsync(id);
            var removing = AskAsync(new Remove(id));
            var fresh = Server.CreateAccount(id + "-again");
            var registering = AskAsync(new Register(new AccountCredentials(
                id, "claude", new Secret(fresh.RefreshToken), new Secret(fresh.AccessToken), fresh.ExpiresAt)));
            Assert.IsType<StatusReply>(await removing);
            Assert.IsType<StatusReply>(await registering);
            Assert.Equal(fresh.AccessToken, (await TokenAsync(id)).Value.Reveal());
        }
    }

    [Fact]
    public async Task A_registration_with_an_unknown_provider_is_refused_before_anything_is_journaled()
    {
        var refused = Assert.IsType<CommandRefused>(await AskAsync(new Register(new AccountCredentials("u1", "nope", new Secret("rt")))));
        Assert.Contains("unknown provider 'nope'", refused.Reason);
        Assert.DoesNotContain("u1", Assert.IsType<AccountIds>(await AskAsync(ListAccounts.Instance)).Ids);
        Assert.Null(await ResolveAsync(Region.Path / "u1"));

        // A restart over the same journal wakes nothing for it.
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
        Assert.DoesNotContain("u1", Assert.IsType<AccountIds>(await region.Ask<object>(ListAccounts.Instance, Wait)).Ids);
        Assert.Null(await ResolveAsync(region.Path / "u1"));
        Assert.IsType<NotRegistered>(await region.Ask<object>(new GetStatus("u1"), Wait));
    }

    [Fact]
    public async Task The_cluster_directory_refuses_an_unknown_provider_before_journaling_it()
    {
        // The directory singleton shares the region's journal (one persistence id): stop the region first.
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        var shards = CreateTestProbe();
        var directory = Sys.ActorOf(AccountDirectory.Props(shards.Ref, Services), "directory");

        var refused = Assert.IsType<CommandRefused>(await directory.Ask<object>(
            new Register(new AccountCredentials("u2", "nope", new Secret("rt"))), Wait));
        Assert.Contains("unknown provider 'nope'", refused.Reason);
        await shards.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        Assert.DoesNotContain("u2", Assert.IsType<AccountIds>(await directory.Ask<object>(ListAccounts.Instance, Wait)).Ids);

        var valid = new Register(new AccountCredentials("u3", "claude", new Secret("rt")));
        directory.Tell(valid, TestActor);
        Assert.Equal(valid, await shards.ExpectMsgAsync<Register>(Wait));
        Assert.Contains("u3", Assert.IsType<AccountIds>(await directory.Ask<object>(ListAccounts.Instance, Wait)).Ids);
    }
}
