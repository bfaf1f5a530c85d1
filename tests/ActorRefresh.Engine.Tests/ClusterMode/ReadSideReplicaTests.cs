using System.Security.Cryptography;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>
/// A node's read-side replica keeps nothing longer than it needs: a token published from any node is the outage fallback
/// while its account still holds it, a removed account is forgotten at once, and tombstones of withdrawn tokens are
/// pruned once no older message can still be on its way. The peer is a second actor system on loopback,
/// so "another node" is a real remote sender.
/// </summary>
public sealed class ReadSideReplicaTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly AccountReadSide _readSide;
    private readonly IActorRef _replica;
    private readonly ActorSystem _peer;

    public ReadSideReplicaTests(ITestOutputHelper output) : base(NodeConfig(), "replica-node", output)
    {
        _readSide = new AccountReadSide(_time);
        _replica = Sys.ActorOf(ReadSideReplica.Props(_readSide, _time), ReadSideReplica.Name);
        _peer = ActorSystem.Create("replica-peer", NodeConfig());
    }

    private static Config NodeConfig() => ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = WARNING
            """)
        .WithFallback(EngineHocon.Full(new StorageOptions { DataDirectory = Path.GetTempPath() }, Key));

    protected override void AfterAll()
    {
        _peer.Terminate().Wait(TimeSpan.FromSeconds(10));
        base.AfterAll();
    }

    [Fact]
    public void Tokens_from_every_node_are_the_fallback_removed_accounts_are_forgotten_and_tombstones_are_pruned()
    {
        var remote = _peer.ActorSelection(new RootActorPath(Akka.Cluster.Cluster.Get(Sys).SelfAddress) / "user" / ReadSideReplica.Name);
        var here = Akka.Cluster.Cluster.Get(Sys).SelfAddress.ToString();
        var peer = Akka.Cluster.Cluster.Get(_peer).SelfAddress.ToString();
        var token = new AccessToken(new Secret("sk-ant-oat01-sample"), _time.GetUtcNow().AddHours(1));

        // Hosted here or on the peer: served while fresh, and kept as the fallback.
        _replica.Tell(new TokenPublished("local", token, _time.GetUtcNow().AddMinutes(30), 2, here), TestActor);
        remote.Tell(new TokenPublished("elsewhere", token, _time.GetUtcNow().AddMinutes(30), 2, peer));
        AwaitCondition(() => _readSide.TryGetFreshToken("elsewhere", out _), TimeSpan.FromSeconds(10));
        Assert.Equal((2, 2), _readSide.TokenCounts);

        // "local" moves to the peer: its token stays the fallback here.
        remote.Tell(new TokenPublished("local", token, _time.GetUtcNow().AddMinutes(30), 4, peer));
        AwaitCondition(() => Stats() == new ReplicaStats(2, 0), TimeSpan.FromSeconds(10));
        Assert.Equal((2, 2), _readSide.TokenCounts);

        // Withdrawn: a tombstone keeps the version (an older publish still on its way cannot bring the token back).
        remote.Tell(new TokenWithdrawn("elsewhere", 5, Confirm: false, FallbackExpiresAt: null));
        AwaitCondition(() => !_readSide.TryGetFreshToken("elsewhere", out _), TimeSpan.FromSeconds(10));
        remote.Tell(new TokenPublished("elsewhere", token, _time.GetUtcNow().AddMinutes(30), 4, peer));
        Assert.Equal(new ReplicaStats(Tokens: 1, Tombstones: 1), Stats());
        Assert.False(_readSide.TryGetFreshToken("elsewhere", out _));

        // Removed on the peer: forgotten at once, no tombstone.
        remote.Tell(new TokenWithdrawn("local", 5, Confirm: false, Removed: true));
        AwaitAssert(() => Assert.Equal(new ReplicaStats(Tokens: 0, Tombstones: 1), Stats()), TimeSpan.FromSeconds(10));
        Assert.Equal((0, 0), _readSide.TokenCounts);

        // A young tombstone survives a prune; one older than the lifetime goes.
        _time.Advance(ReadSideReplica.TombstoneLifetime - TimeSpan.FromSeconds(1));
        _replica.Tell(ReadSideReplica.PruneTombstones.Instance);
        Assert.Equal(new ReplicaStats(Tokens: 0, Tombstones: 1), Stats());
        _time.Advance(TimeSpan.FromSeconds(2));
        _replica.Tell(ReadSideReplica.PruneTombstones.Instance);
        Assert.Equal(new ReplicaStats(Tokens: 0, Tombstones: 0), Stats());
    }

    private ReplicaStats Stats() => _replica.Ask<ReplicaStats>(GetReplicaStats.Instance, TimeSpan.FromSeconds(5)).Result;
}
