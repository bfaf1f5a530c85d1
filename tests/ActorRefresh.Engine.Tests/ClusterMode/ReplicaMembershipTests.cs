using System.Security.Cryptography;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Configuration;
using Akka.Remote;
using Akka.Remote.Transport;
using Xunit.Abstractions;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>
/// Replicas follow membership: two real cluster members on loopback, each with its replica and the cluster fan-out the
/// accounts use. A token published by a member that becomes unreachable (its traffic black-holed by Akka's throttler
/// transport) or leaves is no longer served; when the member is reachable again, the replicas learn what it publishes
/// now (a change made during the partition is not missed). Real remoting, so real time: the failure detector runs on
/// the wall clock with short test settings.
/// </summary>
public sealed class ReplicaMembershipTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly AccountReadSide _readSideA = new(TimeProvider.System);
    private readonly AccountReadSide _readSideB = new(TimeProvider.System);
    private readonly ActorSystem _b;

    public ReplicaMembershipTests(ITestOutputHelper output) : base(NodeConfig(), "replica", output)
    {
        _b = ActorSystem.Create("replica", NodeConfig());
        Sys.ActorOf(ReadSideReplica.Props(_readSideA, TimeProvider.System), ReadSideReplica.Name);
        _b.ActorOf(ReadSideReplica.Props(_readSideB, TimeProvider.System), ReadSideReplica.Name);
    }

    // Members of one cluster share the system name: the peer is a second system of that name on another port.
    private static Config NodeConfig() => ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, applied-adapters = [trttl] }
            akka.cluster.failure-detector { heartbeat-interval = 200ms, acceptable-heartbeat-pause = 1s, expected-response-after = 200ms }
            akka.cluster.downing-provider-class = ""
            akka.cluster.gossip-interval = 200ms
            akka.cluster.leader-actions-interval = 200ms
            akka.cluster.unreachable-nodes-reaper-interval = 200ms
            akka.loglevel = WARNING
            """)
        .WithFallback(EngineHocon.Full(new StorageOptions { DataDirectory = Path.GetTempPath() }, Key));

    protected override void AfterAll()
    {
        _b.Terminate().Wait(TimeSpan.FromSeconds(10));
        base.AfterAll();
    }

    [Fact]
    public async Task Tokens_of_an_unreachable_member_are_dropped_and_what_it_changed_meanwhile_arrives_when_it_returns()
    {
        var (a, b) = await JoinAsync();
        var fanoutA = OnNode(Sys, TokenFanout.ForCluster(Sys, _readSideA));
        var fanoutB = OnNode(_b, TokenFanout.ForCluster(_b, _readSideB));
        var t1 = Token("t1");
        fanoutB(f => f.Publish("on-b", t1, DateTimeOffset.UtcNow.AddHours(1), 2));
        fanoutA(f => f.Publish("on-a", t1, DateTimeOffset.UtcNow.AddHours(1), 2));
        AwaitCondition(() => _readSideA.TryGetFreshToken("on-b", out _) && _readSideB.TryGetFreshToken("on-a", out _), Patience);

        // Partition: each side stops serving what the other published, within the failure detector's time.
        await BlackholeAsync(a, b, on: true);
        AwaitCondition(() => !_readSideA.TryGetFreshToken("on-b", out _), Patience, "A still serves the token of unreachable B");
        AwaitCondition(() => !_readSideB.TryGetFreshToken("on-a", out _), Patience, "B still serves the token of unreachable A");

        // During the partition A's account rotates (a publish B cannot receive); B's is withdrawn.
        var t2 = Token("t2");
        fanoutA(f => f.Publish("on-a", t2, DateTimeOffset.UtcNow.AddHours(1), 4));
        fanoutB(f => f.Withdraw("on-b", 3, doubt: false, fallbackExpiresAt: null));

        // Healed: B learns A's current token, A does not get B's withdrawn one back.
        await BlackholeAsync(a, b, on: false);
        AwaitCondition(() => _readSideB.TryGetFreshToken("on-a", out var now) && now.Value.Reveal() == t2.Value.Reveal(), Patience,
            "B did not learn A's token after the partition healed");
        Assert.False(_readSideA.TryGetFreshToken("on-b", out _));
    }

    [Fact]
    public async Task Tokens_of_a_member_that_leaves_are_dropped()
    {
        await JoinAsync();
        OnNode(_b, TokenFanout.ForCluster(_b, _readSideB))(f => f.Publish("on-b", Token("t1"), DateTimeOffset.UtcNow.AddHours(1), 2));
        AwaitCondition(() => _readSideA.TryGetFreshToken("on-b", out _), Patience);
        // Every replica keeps the token as the outage fallback, B's and A's alike.
        Assert.Equal((1, 1), _readSideA.TokenCounts);

        var cluster = Akka.Cluster.Cluster.Get(_b);
        cluster.Leave(cluster.SelfAddress);
        AwaitCondition(() => !_readSideA.TryGetFreshToken("on-b", out _), Patience, "A still serves the token of B, which left");
        // Its fallback goes with it: the account moves, and may change where A does not hear of it.
        AwaitCondition(() => _readSideA.TokenCounts == (0, 0), Patience, "A kept B's token as a fallback after B left");
    }

    /// <summary>
    /// A refresh withdraws the token from every node in doubt (version 2n+1) before its intent is journaled. When that write
    /// fails (the store is down), nothing changed at n: the account's next incarnation recovers at n and publishes the same
    /// token, which every replica must serve again, not ignore as older than the doubt until the next event. Meanwhile the
    /// token, still held by the account, is every node's outage fallback.
    /// </summary>
    [Fact]
    public async Task A_token_withdrawn_in_doubt_about_a_refresh_never_journaled_is_served_again_when_the_next_incarnation_publishes_it()
    {
        await JoinAsync();
        var token = Token("t1");
        var freshUntil = DateTimeOffset.UtcNow.AddHours(1);
        OnNode(_b, TokenFanout.ForCluster(_b, _readSideB))(f =>
        {
            f.Publish("doubted", token, freshUntil, 5);
            f.WithdrawConfirmed("doubted", 5, ActorRefs.Nobody, token.ExpiresAt);
        });
        AwaitCondition(() => _readSideA.TokenCounts == (0, 1) && _readSideB.TokenCounts == (0, 1), Patience, "the doubt did not reach both replicas");
        Assert.True(_readSideA.TryGetStillValidToken("doubted", TimeSpan.FromMinutes(1), out var fallback) && fallback.Value.Reveal() == token.Value.Reveal());

        // The next incarnation (after the failed write, a restart and a recovery at 5) publishes the unchanged token.
        OnNode(_b, TokenFanout.ForCluster(_b, _readSideB))(f =>
        {
            f.RecoveredAt(5);
            f.Publish("doubted", token, freshUntil, 5);
        });
        AwaitCondition(() => _readSideA.TryGetFreshToken("doubted", out _) && _readSideB.TryGetFreshToken("doubted", out _), Patience,
            "a replica ignored the next incarnation's token: it still holds the doubt's version");
    }

    /// <summary>A withdrawal says whether the account still holds the token: a block (or a rejection) ends every node's fallback.</summary>
    [Fact]
    public async Task The_fallback_on_every_node_lasts_while_the_account_still_holds_the_token_and_ends_when_it_is_blocked()
    {
        await JoinAsync();
        var token = Token("t1");
        var fanout = OnNode(_b, TokenFanout.ForCluster(_b, _readSideB));
        fanout(f => f.Publish("blocked-later", token, DateTimeOffset.UtcNow.AddHours(1), 2));
        AwaitCondition(() => _readSideA.TryGetFreshToken("blocked-later", out _), Patience);
        // Backing off (or stopping) with the token still held: not fresh, still the fallback.
        fanout(f => f.Withdraw("blocked-later", 3, doubt: false, token.ExpiresAt));
        AwaitCondition(() => !_readSideA.TryGetFreshToken("blocked-later", out _), Patience);
        Assert.True(_readSideA.TryGetStillValidToken("blocked-later", TimeSpan.FromMinutes(1), out _));
        // Replaced by credentials whose token expires at another time: that older token is no fallback any more.
        fanout(f => f.Withdraw("blocked-later", 4, doubt: false, token.ExpiresAt.AddMinutes(5)));
        AwaitCondition(() => !_readSideA.TryGetStillValidToken("blocked-later", TimeSpan.FromMinutes(1), out _), Patience, "A kept a replaced token as the fallback");

        fanout(f => f.Publish("blocked-later", token, DateTimeOffset.UtcNow.AddHours(1), 6));
        AwaitCondition(() => _readSideA.TryGetFreshToken("blocked-later", out _), Patience);
        fanout(f => f.Withdraw("blocked-later", 7, doubt: false, fallbackExpiresAt: null));
        AwaitCondition(() => !_readSideA.TryGetStillValidToken("blocked-later", TimeSpan.FromMinutes(1), out _)
                             && !_readSideB.TryGetStillValidToken("blocked-later", TimeSpan.FromMinutes(1), out _), Patience, "a node kept a blocked account's token as the fallback");
    }

    private async Task<(Address A, Address B)> JoinAsync()
    {
        var a = Akka.Cluster.Cluster.Get(Sys);
        var b = Akka.Cluster.Cluster.Get(_b);
        a.Join(a.SelfAddress);
        b.Join(a.SelfAddress);
        AwaitCondition(() => a.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 2
                             && b.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 2, Patience);
        await Task.CompletedTask;
        return (a.SelfAddress, b.SelfAddress);
    }

    private async Task BlackholeAsync(Address a, Address b, bool on)
    {
        ThrottleMode mode = on ? Blackhole.Instance : Unthrottled.Instance;
        var transportA = ((IRemoteActorRefProvider)((ExtendedActorSystem)Sys).Provider).Transport;
        var transportB = ((IRemoteActorRefProvider)((ExtendedActorSystem)_b).Provider).Transport;
        Assert.True(await transportA.ManagementCommand(new SetThrottle(b, ThrottleTransportAdapter.Direction.Both, mode)));
        Assert.True(await transportB.ManagementCommand(new SetThrottle(a, ThrottleTransportAdapter.Direction.Both, mode)));
    }

    /// <summary>Runs fan-out calls inside an actor of <paramref name="system"/>, as an account does (no ambient sender).</summary>
    private static Action<Action<TokenFanout>> OnNode(ActorSystem system, TokenFanout fanout)
    {
        var runner = system.ActorOf(Props.Create(() => new Runner()));
        return call => runner.Tell(new Action(() => call(fanout)), ActorRefs.NoSender);
    }

    private sealed class Runner : ReceiveActor
    {
        public Runner() => Receive<Action>(run => run());
    }

    private static AccessToken Token(string name) => new(new Secret("sk-ant-oat01-" + name), DateTimeOffset.UtcNow.AddHours(2));
}
