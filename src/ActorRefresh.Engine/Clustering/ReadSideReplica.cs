using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Cluster;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// One per node, at <see cref="Path"/>: the only writer of the node's <see cref="AccountReadSide"/> tokens in cluster mode.
/// Accounts, wherever they run, send it their fresh token with a version (<see cref="TokenPublished"/>) and withdraw it on
/// any doubt (<see cref="TokenWithdrawn"/>); an older version never overwrites a newer one. When the node an account's
/// token came from becomes unreachable or leaves, every token it published is dropped: its accounts restart elsewhere
/// and publish again after recovery. A withdrawn account leaves a tombstone (its version, so an older publish still
/// on its way cannot bring the token back); tombstones are pruned after <see cref="TombstoneLifetime"/>, and a removed
/// account is forgotten at once. Only tokens of accounts hosted on this node are kept as the read side's outage
/// fallback: the fallback serves when the local actor cannot answer, which concerns only local accounts.
/// </summary>
internal sealed class ReadSideReplica : ReceiveActor, IWithTimers
{
    public const string Name = "account-read-side";
    public const string Path = "/user/" + Name;

    /// <summary>
    /// How long a tombstone is kept: far longer than a message between two nodes can be on its way (a node that
    /// cannot deliver for that long is unreachable, and its tokens are dropped anyway).
    /// </summary>
    public static readonly TimeSpan TombstoneLifetime = TimeSpan.FromMinutes(5);

    private readonly AccountReadSide _readSide;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public ReadSideReplica(AccountReadSide readSide, TimeProvider time)
    {
        _readSide = readSide;
        _time = time;
        Receive<TokenPublished>(m =>
        {
            if (_entries.TryGetValue(m.AccountId, out var entry) && entry.Version > m.Version) return;
            var origin = Sender.Path.Address;
            _entries[m.AccountId] = new Entry(m.Version, origin, _time.GetUtcNow());
            _readSide.PublishToken(m.AccountId, m.Token, m.FreshUntil, keepAsFallback: IsLocal(origin));
        });
        Receive<TokenWithdrawn>(m =>
        {
            if (m.Removed)
            {
                if (!_entries.TryGetValue(m.AccountId, out var known) || known.Version <= m.Version)
                {
                    _entries.Remove(m.AccountId);
                    _readSide.ForgetToken(m.AccountId);
                }
            }
            else if (!_entries.TryGetValue(m.AccountId, out var entry) || entry.Version <= m.Version)
            {
                _entries[m.AccountId] = new Entry(m.Version, null, _time.GetUtcNow());
                _readSide.WithdrawToken(m.AccountId);
            }
            if (m.Confirm) Sender.Tell(new TokenWithdrawConfirmed(m.AccountId, m.Version));
        });
        Receive<PruneTombstones>(_ => Prune());
        Receive<GetReplicaStats>(_ =>
        {
            var tombstones = _entries.Values.Count(e => e.Origin is null);
            Sender.Tell(new ReplicaStats(_entries.Count - tombstones, tombstones));
        });
        Receive<ClusterEvent.UnreachableMember>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberExited>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.ReachableMember>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(AccountReadSide readSide, TimeProvider time) => Akka.Actor.Props.Create(() => new ReadSideReplica(readSide, time));

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartPeriodicTimer(nameof(PruneTombstones), PruneTombstones.Instance, TimeSpan.FromMinutes(1));
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private bool IsLocal(Address origin) => origin.HasLocalScope || origin.Equals(Akka.Cluster.Cluster.Get(Context.System).SelfAddress);

    private void DropFrom(Address address)
    {
        var local = Akka.Cluster.Cluster.Get(Context.System).SelfAddress;
        foreach (var (accountId, entry) in _entries.ToList())
        {
            if (entry.Origin is not { } origin) continue;
            var from = origin.HasLocalScope ? local : origin;
            if (!from.Equals(address)) continue;
            // Forget the version too: the account's next incarnation publishes at the same journal position.
            _entries.Remove(accountId);
            _readSide.WithdrawToken(accountId);
        }
    }

    private void Prune()
    {
        var before = _time.GetUtcNow() - TombstoneLifetime;
        foreach (var (accountId, entry) in _entries.ToList())
        {
            if (entry.Origin is null && entry.Since < before) _entries.Remove(accountId);
        }
    }

    /// <summary>Removes tombstones older than <see cref="TombstoneLifetime"/>; sent by the replica's timer every minute.</summary>
    internal sealed record PruneTombstones
    {
        public static PruneTombstones Instance { get; } = new();
    }

    private sealed record Entry(long Version, Address? Origin, DateTimeOffset Since);
}
