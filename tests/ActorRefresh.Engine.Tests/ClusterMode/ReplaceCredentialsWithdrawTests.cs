using System.Collections.Concurrent;
using System.Security.Cryptography;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.ReadSide;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Akka.Configuration;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>
/// New credentials in cluster mode: every node stops serving the old access token before the replacement is journaled
/// and answered, as before a refresh replaces it upstream. Two real cluster members on loopback; the other member's
/// replica is a stand-in that confirms a withdrawal only when the test lets it.
/// </summary>
public sealed class ReplaceCredentialsWithdrawTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly ActorSystem _b;
    private readonly HeldReplica.Log _seenOnB = new();
    private readonly AccountReadSide _readSideA = new(TimeProvider.System);
    private FakeTokenServer _server = null!;
    private EngineServices _services = null!;

    public ReplaceCredentialsWithdrawTests(ITestOutputHelper output) : base(NodeConfig(), "replace", output)
    {
        _b = ActorSystem.Create("replace", NodeConfig());
        _b.ActorOf(Props.Create(() => new HeldReplica(_seenOnB)), ReadSideReplica.Name);
    }

    private static Config NodeConfig() => ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.cluster.downing-provider-class = ""
            akka.cluster.gossip-interval = 200ms
            akka.cluster.leader-actions-interval = 200ms
            akka.loglevel = WARNING
            """)
        .WithFallback(EngineHocon.Full(new StorageOptions { DataDirectory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "actorrefresh-replace-" + Guid.NewGuid().ToString("N"))).FullName }, Key));

    public async Task InitializeAsync()
    {
        _server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions());
        _services = EngineTest.CreateServices(_server, TimeProvider.System, new EngineOptions(), new BackoffOptions(),
            cluster: new ClusterOptions { Enabled = true, Timings = ClusterTimings.Test, WithdrawTimeout = TimeSpan.FromSeconds(30) });
        _services.OwnershipCheck = () => true;
        Sys.ActorOf(ReadSideReplica.Props(_services.ReadSide, TimeProvider.System), ReadSideReplica.Name);
        var a = Akka.Cluster.Cluster.Get(Sys);
        a.Join(a.SelfAddress);
        Akka.Cluster.Cluster.Get(_b).Join(a.SelfAddress);
        AwaitCondition(() => a.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 2
                             && Akka.Cluster.Cluster.Get(_b).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 2, Patience);
    }

    public async Task DisposeAsync()
    {
        await _b.Terminate();
        await _server.DisposeAsync();
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task New_credentials_are_journaled_and_answered_only_after_every_node_dropped_the_old_token()
    {
        var region = Sys.ActorOf(AccountRegion.Props(_services), "accounts");
        var old = _server.CreateAccount("moved");
        Assert.IsType<StatusReply>(await region.Ask<object>(new Register(new AccountCredentials("moved", "claude", new Secret(old.RefreshToken),
            new Secret(old.AccessToken), DateTimeOffset.UtcNow.AddHours(1))), Patience));
        AwaitCondition(() => _seenOnB.Published.Contains(old.AccessToken), Patience, "the other node never got the token");

        var login = _server.CreateAccount("moved-relogin");
        var replace = region.Ask<object>(new ReplaceCredentials(new AccountCredentials("moved", "claude", new Secret(login.RefreshToken),
            new Secret(login.AccessToken), DateTimeOffset.UtcNow.AddHours(1))), Patience);

        // The other node is asked to drop the old token, and the replacement waits for its answer.
        AwaitCondition(() => !_seenOnB.Held.IsEmpty, Patience, "the other node was not asked to confirm dropping the old token");
        Assert.False(_services.ReadSide.TryGetFreshToken("moved", out _));
        await Task.WhenAny(replace, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.False(replace.IsCompleted, "the replacement was answered before every node confirmed");
        Assert.DoesNotContain(login.AccessToken, _seenOnB.Published);

        _seenOnB.Release();
        var status = Assert.IsType<StatusReply>(await replace).Status;
        Assert.Equal(AccountState.Valid, status.State);
        AwaitCondition(() => _seenOnB.Published.Contains(login.AccessToken), Patience, "the other node never got the new token");
        Assert.Equal(login.AccessToken, Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("moved"), Patience)).Token.Value.Reveal());
    }

    /// <summary>The other node's replica: records what reaches it and confirms withdrawals only once released.</summary>
    private sealed class HeldReplica : ReceiveActor
    {
        public HeldReplica(Log log)
        {
            Receive<TokenPublished>(m => log.Published.Add(m.Token.Value.Reveal()));
            Receive<TokenWithdrawn>(m =>
            {
                if (!m.Confirm) return;
                var answer = new TokenWithdrawConfirmed(m.AccountId, m.Version);
                var to = Sender;
                if (log.Released) to.Tell(answer);
                else log.Held.Enqueue(() => to.Tell(answer));
            });
            Receive<ReplicaSync>(_ => { });
        }

        public sealed class Log
        {
            public ConcurrentBag<string> Published { get; } = [];
            public ConcurrentQueue<Action> Held { get; } = new();
            public volatile bool Released;

            public void Release()
            {
                Released = true;
                while (Held.TryDequeue(out var answer)) answer();
            }
        }
    }
}
