using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Cluster;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// One per node, at <see cref="Path"/>: the only writer of the node's <see cref="AccountReadSide"/> tokens in cluster mode.
/// Accounts, wherever they run, send it their fresh token with a version (<see cref="TokenPublished"/>) and withdraw it on
/// any doubt (<see cref="TokenWithdrawn"/>); an older version never overwrites a newer one. When the node an account's
/// token came from becomes unreachable or leaves, every token it published is dropped: its accounts restart elsewhere
/// and publish again after recovery.
/// </summary>
internal sealed class ReadSideReplica : ReceiveActor
{
    public const string Name = "account-read-side";
    public const string Path = "/user/" + Name;

    private readonly AccountReadSide _readSide;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public ReadSideReplica(AccountReadSide readSide)
    {
        _readSide = readSide;
        Receive<TokenPublished>(m =>
        {
            if (_entries.TryGetValue(m.AccountId, out var entry) && entry.Version > m.Version) return;
            _entries[m.AccountId] = new Entry(m.Version, Sender.Path.Address);
            _readSide.PublishToken(m.AccountId, m.Token, m.FreshUntil);
        });
        Receive<TokenWithdrawn>(m =>
        {
            if (!_entries.TryGetValue(m.AccountId, out var entry) || entry.Version <= m.Version)
            {
                _entries[m.AccountId] = new Entry(m.Version, null);
                _readSide.WithdrawToken(m.AccountId);
            }
            if (m.Confirm) Sender.Tell(new TokenWithdrawConfirmed(m.AccountId, m.Version));
        });
        Receive<ClusterEvent.UnreachableMember>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.MemberExited>(m => DropFrom(m.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.ReachableMember>(_ => { });
    }

    public static Props Props(AccountReadSide readSide) => Akka.Actor.Props.Create(() => new ReadSideReplica(readSide));

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

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

    private sealed record Entry(long Version, Address? Origin);
}
