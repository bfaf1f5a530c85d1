using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.Testing;
using ActorRefresh.TestKit;
using Xunit.Abstractions;

using static ActorRefresh.Host.Tests.Cluster.ClusterWait;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>
/// Read-side replicas follow membership between real <c>serve --cluster</c> processes: when the node hosting an account
/// freezes (SIGSTOP), the other nodes stop serving the token it published within the failure detector's time, and serve
/// again only what the account's next incarnation publishes.
/// </summary>
[Collection("cluster")]
public sealed class ClusterMembershipTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private FakeTokenServer Server => cluster.Server;

    [ClusterFact]
    public async Task A_frozen_hosting_node_s_token_is_no_longer_served_by_the_others_within_the_failure_detector_s_time()
    {
        await cluster.EnsureThreeNodesAsync();
        const string id = "frozen-host";
        var issued = Server.CreateAccount(id);
        // An access token good for an hour: fresh everywhere for the whole test, no refresh in the way.
        var register = await cluster.Nodes[0].Http.PostAsJsonAsync("v1/accounts", new
        {
            id,
            provider = "claude",
            refreshToken = issued.RefreshToken,
            accessToken = issued.AccessToken,
            expiresAt = DateTimeOffset.UtcNow.AddHours(1),
        });
        Assert.Equal(HttpStatusCode.Created, register.StatusCode);
        Assert.True(await WaitForAsync(async () => (await Task.WhenAll(cluster.Nodes.Select(n => n.FreshTokensAsync()))).All(t => t?.Contains(id) == true),
            TimeSpan.FromSeconds(15)), "the token did not reach every node's read side:\n" + cluster.Logs());

        var host = await cluster.HostOfAsync(id);
        var others = cluster.Nodes.Where(n => n != host).ToList();
        var clock = Stopwatch.StartNew();
        host.Pause();
        try
        {
            // Each other node drops the token once it sees the frozen node unreachable; the account's next incarnation
            // (on a survivor, after the split-brain resolver downed the frozen node) publishes again. Watch for the gap.
            var dropped = new TimeSpan?[others.Count];
            using (var watch = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
            {
                while (dropped.Any(d => d is null) && !watch.IsCancellationRequested)
                {
                    for (var i = 0; i < others.Count; i++)
                    {
                        if (dropped[i] is null && await others[i].FreshTokensAsync() is { } fresh && !fresh.Contains(id)) dropped[i] = clock.Elapsed;
                    }
                    await Task.Delay(25);
                }
            }
            output.WriteLine("token dropped after SIGSTOP: " + string.Join(", ", dropped.Select(d => d is { } t ? $"{t.TotalSeconds:0.00} s" : "never")));
            Console.WriteLine("[cluster] replicas drop a frozen node's token after " + string.Join(" / ", dropped.Select(d => d is { } t ? $"{t.TotalSeconds:0.00} s" : "never")));
            Assert.True(dropped.All(d => d is not null), "a node kept serving the frozen node's token:\n" + cluster.Logs());
            // Failure detector (test timings): 250 ms heartbeats, 1 s acceptable pause; the bound leaves room for 2 loaded cores.
            Assert.All(dropped, d => Assert.True(d < TimeSpan.FromSeconds(8), $"dropped after {d!.Value.TotalSeconds:0.00} s"));

            // The account moves to a survivor and is served again there and on the other node, with the same pair.
            Assert.True(await WaitForAsync(async () =>
            {
                foreach (var node in others)
                {
                    var token = await node.Http.GetFromJsonAsync<JsonElement>($"v1/accounts/{id}/token");
                    if (token.GetProperty("accessToken").GetString() != Server.Current(id).AccessToken) return false;
                }
                return true;
            }, TimeSpan.FromSeconds(20)), "the account was not served again after the failover:\n" + cluster.Logs());
        }
        finally
        {
            host.Resume();
        }

        // The resumed node was downed meanwhile: it leaves the cluster (its process ends) and the rest settles.
        var exited = await host.WaitForExitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"resumed node exited by itself: {exited}");
        if (!exited) host.Kill();
        await cluster.EnsureThreeNodesAsync();
        var counters = Server.CountersOf(id);
        Assert.True(counters is { OverlappingRefreshes: 0, RefreshTokenReuse: 0 }, $"{counters}");
    }

}
