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
        // An access token good for an hour: fresh everywhere for the whole test, no refresh in the way.
        var issued = await cluster.RegisterWithHourLongTokenAsync(id);
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

    /// <summary>
    /// The fence against a paused node (issue 12 item 1). The node hosting an account is frozen (SIGSTOP) while its refresh
    /// is held by a slow provider (the answer, a 503 that consumes nothing, comes 5 s later into the frozen process's
    /// socket, before the request timeout of 6 s). The account fails over; the survivor waits out the open intent's deadline (request timeout + grace after the
    /// call began), so it calls only once the old call is over: a refresh forced meanwhile is held. It refreshes then. Then the frozen node resumes (SIGCONT): its
    /// stale incarnation must neither call the provider again nor hand out the token the account had before (it answers
    /// the current token or refuses), and the node, downed meanwhile, shuts itself down.
    /// </summary>
    [ClusterFact]
    public async Task A_node_frozen_mid_refresh_neither_overlaps_nor_reuses_nor_serves_a_stale_token_when_it_resumes()
    {
        await cluster.EnsureThreeNodesAsync();
        const string id = "fence-frozen";
        var issued = await cluster.RegisterWithHourLongTokenAsync(id);
        var host = await cluster.HostOfAsync(id);
        var others = cluster.Nodes.Where(n => n != host).ToList();

        Server.Script(id, FakeFault.After(TimeSpan.FromSeconds(5), FakeFault.ServerError(503)));
        var before = Server.CountersOf(id);
        using (var force = await host.Http.PostAsync($"v1/accounts/{id}/refresh", null))
            Assert.Equal(HttpStatusCode.OK, force.StatusCode);
        await WaitUntilAsync(() => Server.CountersOf(id) is { InFlight: 1 } c && c.RefreshCalls == before.RefreshCalls + 1, TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();
        host.Pause();
        // Callers of the frozen node wait in its kernel's queues; they are answered when it resumes.
        using var patient = new HttpClient { BaseAddress = host.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(90) };
        var queued = Enumerable.Range(0, 4).Select(_ => AnswerOfAsync(patient, id)).ToList();
        TimeSpan refreshedAfter;
        try
        {
            // The survivor's refresh, forced as soon as the account answers there (the access token is good for an hour, so
            // nothing else would refresh it): held until the old call's deadline, then made with the pair the old call did
            // not consume. A force that lands during the wait, or before the account moved, only reports the status.
            var n = 0;
            Assert.True(await WaitForAsync(async () =>
            {
                if (Server.CountersOf(id).RefreshCalls >= before.RefreshCalls + 2 && Server.CountersOf(id).InFlight == 0 && Server.Current(id).AccessToken != issued.AccessToken)
                    return true;
                // A command sent while the shard still points at the frozen node is lost with it (commands are not sent
                // again): give each up after 2 s, so the next one goes to the account's new home.
                using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                using var force = await others[n++ % others.Count].Http.PostAsync($"v1/accounts/{id}/refresh", null, giveUp.Token);
                await Task.Delay(250);
                return false;
            }, TimeSpan.FromSeconds(40)), $"no survivor refreshed: {Server.CountersOf(id)}\n" + cluster.Logs());
            refreshedAfter = clock.Elapsed;
            Assert.True(await WaitForAsync(async () =>
            {
                foreach (var node in others)
                {
                    var token = await node.Http.GetFromJsonAsync<JsonElement>($"v1/accounts/{id}/token");
                    if (token.GetProperty("accessToken").GetString() == issued.AccessToken) return false;
                }
                return true;
            }, TimeSpan.FromSeconds(20)), "the survivors did not serve the refreshed token:\n" + cluster.Logs());
        }
        finally
        {
            host.Resume();
        }
        output.WriteLine($"survivor refreshed {refreshedAfter.TotalSeconds:0.00} s after SIGSTOP; resumed after {clock.Elapsed.TotalSeconds:0.00} s");

        // Until the resumed node is gone, whatever it answers for the account is not the token it held before.
        var answers = new List<string>();
        var exited = false;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(30) && !(exited = host.HasExited))
        {
            answers.Add(await AnswerOfAsync(host.Http, id));
            await Task.Delay(100);
        }
        foreach (var pending in queued) answers.Add(await pending);
        output.WriteLine($"the resumed node answered: {string.Join(", ", answers.GroupBy(a => a).Select(g => $"{g.Key} x{g.Count()}"))}; exited by itself after {watch.Elapsed.TotalSeconds:0.00} s: {exited}");
        var resumedLog = string.Join("\n", host.Log.Split('\n').Where(l => l.Contains(id, StringComparison.Ordinal) || l.Contains("WRN") || l.Contains("ERR")).TakeLast(60));
        Console.WriteLine($"[cluster] frozen host mid-refresh: survivor refreshed {refreshedAfter.TotalSeconds:0.00} s after SIGSTOP; the resumed node exited {watch.Elapsed.TotalSeconds:0.00} s after SIGCONT");
        foreach (var node in others)
            output.WriteLine($"==== survivor {node.HttpPort} ====\n" + string.Join("\n", node.Log.Split('\n').Where(l => l.Contains(id, StringComparison.Ordinal))));
        output.WriteLine("==== the resumed node ====\n" + host.Tail(80));
        Assert.True(exited, "the resumed node, downed meanwhile, did not shut itself down:\n" + host.Tail(60));
        Assert.DoesNotContain(Stale, answers);

        await cluster.EnsureThreeNodesAsync();
        // The account settles on a survivor, refreshing on with the pair the survivor got.
        Assert.True(await WaitForAsync(async () =>
        {
            var status = await cluster.Nodes[0].Http.GetFromJsonAsync<JsonElement>($"v1/accounts/{id}");
            return status.GetProperty("state").GetString() == "Valid" && Server.CountersOf(id).InFlight == 0;
        }, TimeSpan.FromSeconds(20)), "the account did not settle:\n" + cluster.Logs());
        var counters = Server.CountersOf(id);
        Assert.True(counters is { OverlappingRefreshes: 0, RefreshTokenReuse: 0 }, $"{counters}\n==== the resumed node ====\n{resumedLog}\n" + cluster.Logs());

        async Task<string> AnswerOfAsync(HttpClient http, string account)
        {
            try
            {
                using var response = await http.GetAsync($"v1/accounts/{account}/token");
                if (response.StatusCode != HttpStatusCode.OK) return ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
                var token = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
                return token == issued.AccessToken ? Stale : "current";
            }
            catch (Exception e) when (ClusterNode.IsNoAnswer(e))
            {
                return "no answer";
            }
        }
    }

    private const string Stale = "the token held before the failover";
}
