using ActorRefresh.Engine;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Hosting;

/// <summary>One member of the cluster as this node sees it.</summary>
/// <param name="Address">Akka address, <c>akka.tcp://actor-refresh@host:port</c>.</param>
/// <param name="Status">Membership status: Joining, Up, Leaving, Exiting, Down, Removed.</param>
/// <param name="Reachable">False while this node's failure detector marks the member unreachable.</param>
/// <param name="Roles">Cluster roles.</param>
/// <param name="IsSelf">True for the node that answered.</param>
/// <param name="IsLeader">True for the cluster leader.</param>
/// <param name="Shards">Shards of accounts the member hosts (null when it did not answer in time).</param>
/// <param name="Accounts">Account actors the member hosts (null when it did not answer in time).</param>
public sealed record ClusterMemberStatus(
    string Address,
    string Status,
    bool Reachable,
    IReadOnlyList<string> Roles,
    bool IsSelf,
    bool IsLeader,
    int? Shards,
    int? Accounts);

/// <summary>The cluster as seen by one node.</summary>
/// <param name="Mode"><c>cluster</c> or <c>standalone</c>.</param>
/// <param name="Self">Address of the node that answered.</param>
/// <param name="Leader">Address of the leader, if there is one.</param>
/// <param name="Members">Every member, ordered by address.</param>
/// <param name="HostedHere">Ids of the accounts whose actors run on the node that answered.</param>
public sealed record ClusterStatus(string Mode, string Self, string? Leader, IReadOnlyList<ClusterMemberStatus> Members, IReadOnlyList<string> HostedHere);

/// <summary>Reads the membership and, from sharding's statistics, how many accounts each member hosts.</summary>
public sealed class ClusterStatusReader
{
    private static readonly TimeSpan StatsTimeout = TimeSpan.FromSeconds(3);
    private readonly IServiceProvider _provider;
    private readonly EngineServices _services;

    /// <summary>Created by dependency injection.</summary>
    internal ClusterStatusReader(IServiceProvider provider, EngineServices services)
    {
        _provider = provider;
        _services = services;
    }

    /// <summary>The current view; a member that does not answer the statistics in time has null counts.</summary>
    public async Task<ClusterStatus> GetAsync(CancellationToken cancellationToken = default)
    {
        if (_services.Cluster is null)
        {
            var hosted = HostedHere();
            return new ClusterStatus("standalone", "local", "local",
                [new ClusterMemberStatus("local", "Up", true, [], true, true, null, hosted.Count)], hosted);
        }

        var system = _provider.GetRequiredService<ActorSystem>();
        var cluster = Akka.Cluster.Cluster.Get(system);
        var state = cluster.State;
        var region = await _provider.GetRequiredService<ActorRegistry>().GetAsync<AccountRegionKey>(cancellationToken).ConfigureAwait(false);
        ClusterShardingStats? stats = null;
        try
        {
            stats = await region.Ask<ClusterShardingStats>(new GetClusterShardingStats(StatsTimeout), StatsTimeout + TimeSpan.FromSeconds(1), cancellationToken)
                .ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            // Counts stay unknown; membership is still worth showing.
        }

        var members = state.Members
            .OrderBy(m => m.Address.ToString(), StringComparer.Ordinal)
            .Select(m =>
            {
                int? shards = null, accounts = null;
                if (stats is not null && stats.Regions.TryGetValue(m.Address, out var regionStats))
                {
                    shards = regionStats.Stats.Count;
                    accounts = regionStats.Stats.Values.Sum();
                }
                return new ClusterMemberStatus(
                    m.Address.ToString(),
                    m.Status.ToString(),
                    !state.Unreachable.Contains(m),
                    m.Roles.Order(StringComparer.Ordinal).ToList(),
                    m.Address.Equals(cluster.SelfAddress),
                    m.Address.Equals(state.Leader),
                    shards,
                    accounts);
            })
            .ToList();
        return new ClusterStatus("cluster", cluster.SelfAddress.ToString(), state.Leader?.ToString(), members, HostedHere());
    }

    /// <summary>
    /// Ids of the accounts whose token this node's read side serves now without asking the account, wherever the
    /// account runs (in cluster mode, what the node's replica holds). Answers at once: no actor is asked.
    /// </summary>
    public IReadOnlyList<string> FreshTokens() => _services.ReadSide.FreshTokenIds();

    private List<string> HostedHere() => _services.ReadSide.Statuses().Select(s => s.AccountId).ToList();
}
