using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Cluster;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// One per node, at <see cref="Path"/>: the only writer of the node's <see cref="AccountReadSide"/> tokens in cluster mode.
/// Accounts, wherever they run, send it their fresh token with a version (<see cref="TokenPublished"/>) and withdraw it on
/// any doubt (<see cref="TokenWithdrawn"/>); an older version never overwrites a newer one. Each token carries the address
/// of the node that published it. When that node becomes unreachable (seen by any member), leaves or is removed, every
/// token it published is dropped: its accounts restart elsewhere and publish again after recovery, or it comes back.
/// When a member becomes reachable again (or joins), this replica sends it what this node publishes now
/// (<see cref="ReplicaSync"/>): publications and withdrawals it missed while unreachable are caught up. A withdrawn account leaves a tombstone (its version, so an older publish still
/// on its way cannot bring the token back); tombstones are pruned after <see cref="TombstoneLifetime"/>, and a removed
/// account is forgotten at once. The last token an account published is kept as this node's outage fallback (served while
/// the account cannot answer, e.g. its store is down, and the token stays valid long enough), whichever node hosts the
/// account, for as long as the account's withdrawals say it still holds that token (<see cref="TokenWithdrawn.FallbackExpiresAt"/>)
/// and its node is a reachable member.
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
    // The node that published each account's fallback token (a tombstone keeps the fallback, but no origin).
    private readonly Dictionary<string, Address> _fallbackOrigins = new(StringComparer.Ordinal);

    public ReadSideReplica(AccountReadSide readSide, TimeProvider time)
    {
        _readSide = readSide;
        _time = time;
        // The fallback's validity follows the accounts' withdrawals here, not the status of a locally hosted actor.
        _readSide.FallbackFollowsReplica = true;
        _readSide.FallbackGate = MembershipGuard.For(Context.System);
        Receive<TokenPublished>(Apply);
        Receive<ReplicaSync>(m =>
        {
            var origin = Address.Parse(m.Origin);
            var current = m.Tokens.Select(t => t.AccountId).ToHashSet(StringComparer.Ordinal);
            DropFrom(origin, keep: current);
            foreach (var token in m.Tokens) Apply(token);
        });
        Receive<TokenWithdrawn>(m =>
        {
            if (m.Removed)
            {
                if (!_entries.TryGetValue(m.AccountId, out var known) || known.Version <= m.Version)
                {
                    _entries.Remove(m.AccountId);
                    _fallbackOrigins.Remove(m.AccountId);
                    _readSide.ForgetToken(m.AccountId);
                }
            }
            else if (!_entries.TryGetValue(m.AccountId, out var entry) || entry.Version <= m.Version)
            {
                _entries[m.AccountId] = new Entry(m.Version, null, _time.GetUtcNow(), null);
                _readSide.WithdrawToken(m.AccountId);
                if (!_readSide.KeepFallbackIf(m.AccountId, m.FallbackExpiresAt)) _fallbackOrigins.Remove(m.AccountId);
            }
            if (m.Confirm) Sender.Tell(new TokenWithdrawConfirmed(m.AccountId, m.Version));
        });
        Receive<PruneTombstones>(_ => Prune());
        Receive<GetReplicaStats>(_ =>
        {
            var tombstones = _entries.Values.Count(e => e.Origin is null);
            Sender.Tell(new ReplicaStats(_entries.Count - tombstones, tombstones));
        });
        // Unreachable (as seen by any member: reachability is gossiped), leaving, gone: its accounts' tokens may change
        // without this node hearing of it.
        Receive<ClusterEvent.UnreachableMember>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberLeft>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberExited>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => DropFrom(m.Member.Address));
        // Back, or new: it missed what this node published meanwhile (the fan-out skips unreachable members).
        Receive<ClusterEvent.ReachableMember>(m => SyncTo(m.Member.Address));
        Receive<ClusterEvent.MemberUp>(m => SyncTo(m.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
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

    private Address SelfAddress => Akka.Cluster.Cluster.Get(Context.System).SelfAddress;

    private void Apply(TokenPublished m)
    {
        if (_entries.TryGetValue(m.AccountId, out var entry) && entry.Version > m.Version) return;
        var origin = Address.Parse(m.Origin);
        _entries[m.AccountId] = new Entry(m.Version, origin, _time.GetUtcNow(), m);
        _readSide.PublishToken(m.AccountId, m.Token, m.FreshUntil);
        _fallbackOrigins[m.AccountId] = origin;
    }

    /// <summary>Sends <paramref name="member"/> every token this node's accounts publish now (nothing to send to itself).</summary>
    private void SyncTo(Address member)
    {
        var self = SelfAddress;
        if (member.Equals(self)) return;
        var own = _entries.Values.Where(e => e.Published is not null && self.Equals(e.Origin)).Select(e => e.Published!).ToList();
        Context.ActorSelection(new RootActorPath(member) / "user" / Name).Tell(new ReplicaSync(self.ToString(), own), ActorRefs.NoSender);
    }

    private void DropFrom(Address address, IReadOnlySet<string>? keep = null)
    {
        // The fallback of an account whose node is gone or cut off: it may be blocked or replaced without this node hearing.
        foreach (var (accountId, origin) in _fallbackOrigins.ToList())
        {
            if (!address.Equals(origin) || keep?.Contains(accountId) == true) continue;
            _fallbackOrigins.Remove(accountId);
            _readSide.ForgetToken(accountId);
        }
        foreach (var (accountId, entry) in _entries.ToList())
        {
            if (!address.Equals(entry.Origin) || keep?.Contains(accountId) == true) continue;
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

    /// <summary>A token (<paramref name="Published"/>, from <paramref name="Origin"/>) or a tombstone (both null).</summary>
    private sealed record Entry(long Version, Address? Origin, DateTimeOffset Since, TokenPublished? Published);
}
