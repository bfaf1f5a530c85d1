using ActorRefresh.Testing;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.TestKit;
using Xunit.Abstractions;

using static ActorRefresh.Host.Tests.Cluster.ClusterWait;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>
/// Shard hand-offs while a refresh is in flight, on three real <c>serve --cluster</c> processes: a graceful leave (SIGTERM of
/// the hosting node) and a rebalance onto a newly joined node. The provider rotates when the request arrives and answers
/// seconds later (<see cref="FakeFault.RotateOnReceipt"/>), so an account stopped before the answer loses the new pair and
/// comes back knowing only that its refresh token may be spent.
/// </summary>
[Collection("cluster")]
public sealed class ClusterHandoffTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan AnswerAfter = TimeSpan.FromSeconds(4);

    private FakeTokenServer Server => cluster.Server;

    [ClusterFact]
    public async Task Graceful_leave_with_a_slow_refresh_in_flight_hands_off_the_rotated_pair()
    {
        await cluster.EnsureThreeNodesAsync();
        const string id = "handoff-leave";
        await RegisterQuietAsync(cluster.Nodes[0], id);
        Server.Script(id, FakeFault.RotateOnReceipt(AnswerAfter));

        var host = await cluster.HostOfAsync(id);
        var survivors = cluster.Nodes.Where(n => n != host).ToList();
        var before = Server.CountersOf(id);
        using (var force = await host.Http.PostAsync($"v1/accounts/{id}/refresh", null))
            Assert.Equal(HttpStatusCode.OK, force.StatusCode);
        // The provider has rotated and holds its answer for a few seconds: the leave starts now.
        await WaitUntilAsync(() => Server.CountersOf(id) is { InFlight: 1 } c && c.Rotations == before.Rotations + 1, TimeSpan.FromSeconds(10));
        host.Terminate();
        Assert.True(await host.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the leaving node did not exit:\n" + host.Log);

        var status = await SettledStatusAsync(survivors[0], id);
        output.WriteLine($"after the leave: {status}; server: {Server.CountersOf(id)}");
        AssertHoldsTheCurrentPair(id, status, host);
        Assert.Equal(before.RefreshCalls + 1, Server.CountersOf(id).RefreshCalls);
        await AssertServesTheCurrentTokenAsync(survivors[1], id);
        await AssertRefreshesOnAsync(survivors[1], survivors[0], id);
    }

    [ClusterFact]
    public async Task Rebalance_onto_a_joining_node_with_slow_refreshes_in_flight_keeps_every_rotated_pair()
    {
        await cluster.EnsureThreeNodesAsync();
        var accounts = Enumerable.Range(0, 16).Select(i => $"handoff-rebalance-{i}").ToArray();
        foreach (var id in accounts)
        {
            await RegisterQuietAsync(cluster.Nodes[0], id);
            // Every refresh of these accounts rotates on arrival and answers late.
            Server.SetPersistentFault(id, FakeFault.RotateOnReceipt(AnswerAfter));
        }

        // Keep a refresh in flight on every account while a fourth node joins and shards are rebalanced onto it.
        using var stop = new CancellationTokenSource();
        var forcing = ForceRefreshesAsync(cluster.Nodes.ToList(), accounts, stop.Token);
        await WaitUntilAsync(() => accounts.All(id => Server.CountersOf(id).RefreshCalls > 0), TimeSpan.FromSeconds(20));
        var joining = cluster.StartNode();
        await cluster.WaitForMembersAsync(4);
        string[] moved = [];
        Assert.True(await WaitForAsync(async () =>
        {
            var hosted = (await joining.ClusterAsync())?.GetProperty("hostedHere").EnumerateArray().Select(e => e.GetString()!).ToArray() ?? [];
            moved = accounts.Intersect(hosted).ToArray();
            return moved.Length > 0;
        }, TimeSpan.FromSeconds(40)), "no account was rebalanced onto the joining node:\n" + cluster.Logs());
        // Let the rebalance finish its round (a shard may still be handing off), then stop forcing and let answers arrive.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        await forcing;
        foreach (var id in accounts) Server.SetPersistentFault(id, null);
        output.WriteLine($"moved onto the joining node: {string.Join(", ", moved)}");

        foreach (var id in accounts)
        {
            var status = await SettledStatusAsync(joining, id);
            AssertHoldsTheCurrentPair(id, status, null);
            Assert.Equal(0, Server.CountersOf(id).AnswersLost);
        }

        // Back to three nodes for the class's other tests: the newcomer leaves gracefully (its shards are handed off again).
        joining.Terminate();
        Assert.True(await joining.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the joined node did not exit:\n" + joining.Log);
        foreach (var id in accounts)
        {
            var status = await SettledStatusAsync(cluster.Nodes[0], id);
            AssertHoldsTheCurrentPair(id, status, joining);
        }
    }

    /// <summary>Registers with an access token said to last an hour, so only the refreshes a test forces reach the provider.</summary>
    private async Task RegisterQuietAsync(ClusterNode node, string id)
    {
        var issued = Server.CreateAccount(id);
        using var response = await node.Http.PostAsJsonAsync("v1/accounts", new
        {
            id,
            provider = "claude",
            refreshToken = issued.RefreshToken,
            accessToken = issued.AccessToken,
            expiresAt = DateTimeOffset.UtcNow.AddHours(1),
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"register {id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static Task ForceRefreshesAsync(IReadOnlyList<ClusterNode> nodes, string[] accounts, CancellationToken stop) => Task.Run(async () =>
    {
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            foreach (var id in accounts)
            {
                var node = nodes[n++ % nodes.Count];
                try
                {
                    // Answered at once (a refresh already running just reports the status).
                    using var response = await node.Http.PostAsync($"v1/accounts/{id}/refresh", null, CancellationToken.None);
                }
                catch (Exception e) when (ClusterNode.IsNoAnswer(e))
                {
                    // A node busy with the membership change; the next round tries again.
                }
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }, CancellationToken.None);

    /// <summary>The account's status once it is no longer refreshing (the outcome journaled, wherever it is hosted).</summary>
    private async Task<JsonElement> SettledStatusAsync(ClusterNode via, string id)
    {
        JsonElement status = default;
        Assert.True(await WaitForAsync(async () =>
        {
            using var response = await via.Http.GetAsync($"v1/accounts/{id}");
            if (response.StatusCode != HttpStatusCode.OK) return false;
            status = await response.Content.ReadFromJsonAsync<JsonElement>();
            return status.GetProperty("state").GetString() != "Refreshing" && Server.CountersOf(id).InFlight == 0;
        }, TimeSpan.FromSeconds(40)), $"account {id} did not settle: {status}\nserver: {Server.CountersOf(id)}\n" + cluster.Logs());
        return status;
    }

    /// <summary>Promise 2: the pair the provider rotated to is the account's; nothing was lost, nothing presented twice.</summary>
    private void AssertHoldsTheCurrentPair(string id, JsonElement status, ClusterNode? left)
    {
        var counters = Server.CountersOf(id);
        var context = $"account {id}: {status}\nserver: {counters}\n"
            + (left is null ? "" : "==== the node that left ====\n" + string.Join("\n", left.Log.Split('\n').Where(l => l.Contains(id, StringComparison.Ordinal) || l.Contains("WRN") || l.Contains("ERR"))) + "\n")
            + cluster.Logs();
        Assert.True(status.GetProperty("state").GetString() == "Valid", context);
        Assert.False(status.GetProperty("refreshTokenMaybeSpent").GetBoolean(), context);
        Assert.True(counters is { RefreshTokenReuse: 0, OverlappingRefreshes: 0, CallsDuringBackoff: 0 }, context);
    }

    private async Task AssertServesTheCurrentTokenAsync(ClusterNode via, string id)
    {
        string? served = null;
        Assert.True(await WaitForAsync(async () =>
        {
            var token = await via.Http.GetFromJsonAsync<JsonElement>($"v1/accounts/{id}/token");
            served = token.GetProperty("accessToken").GetString();
            return served == Server.Current(id).AccessToken;
        }, TimeSpan.FromSeconds(10)), $"account {id} does not serve the provider's current token");
    }

    /// <summary>The next refresh presents the handed-off refresh token: it succeeds, with no reuse.</summary>
    private async Task AssertRefreshesOnAsync(ClusterNode via, ClusterNode statusVia, string id)
    {
        var before = Server.CountersOf(id);
        using (var again = await via.Http.PostAsync($"v1/accounts/{id}/refresh", null))
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        await WaitUntilAsync(() => Server.CountersOf(id).RefreshCalls == before.RefreshCalls + 1, TimeSpan.FromSeconds(10));
        var status = await SettledStatusAsync(statusVia, id);
        AssertHoldsTheCurrentPair(id, status, null);
        Assert.Equal(before.Rotations + 1, Server.CountersOf(id).Rotations);
    }


}
