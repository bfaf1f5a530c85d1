using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Benchmarks.Peers;

namespace ActorRefresh.Benchmarks.Scenarios;

/// <summary>
/// Scenario 5: many registered accounts on one node with the SQLite journal. Memory per idle account, time to
/// register, time until every account is running again after a restart, and how the proactive refreshes spread.
/// Runs in its own process so the heap figures hold only this scenario.
/// </summary>
public static class ScaleScenario
{
    /// <summary>Runs and writes <c>scale.json</c>.</summary>
    public static async Task RunAsync(RunOptions options)
    {
        var count = options.Quick ? 2_000 : 100_000;
        RunOptions.Log($"scenario 5: scale, {count} accounts");
        await using var upstream = await Upstream.StartAsync(TimeSpan.Zero);
        var engine = new Dictionary<string, string?>(); // engine defaults: lead 5 min, jitter 2 min, K=4, 10/s
        var dataDirectory = Path.Combine(Path.GetTempPath(), "actorrefresh-scale-" + Guid.NewGuid().ToString("N"));
        var now = DateTimeOffset.UtcNow;
        // Tokens as a gateway would import them: expiries spread over the next 8 hours (no refresh during the run).
        var credentials = Enumerable.Range(0, count).Select(i => (
            Id: $"acct-{i:D6}",
            Refresh: "sk-ant-ort01-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24)),
            Access: "sk-ant-oat01-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24)),
            ExpiresAt: now + TimeSpan.FromHours(1) + TimeSpan.FromSeconds(7.0 * 3600 * i / count))).ToArray();

        var first = await ActorRefreshPeer.StartAsync(upstream, engine, dataDirectory);
        var (heap0, ws0) = Memory();
        var sw = Stopwatch.StartNew();
        await Parallel.ForEachAsync(credentials, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (c, _) =>
            await first.AddAsync(c.Id, c.Refresh, c.Access, c.ExpiresAt));
        var registerS = sw.Elapsed.TotalSeconds;
        await Task.Delay(1000);
        var (heap1, ws1) = Memory();
        var spread = RefreshSpread(first);
        await first.StopAsync();
        RunOptions.Log($"scenario 5: registered {count} in {registerS:0.0} s; restarting");

        var (heapStopped, _) = Memory();
        sw.Restart();
        await using var second = await ActorRefreshPeer.StartAsync(upstream, engine, dataDirectory);
        var hostStartedS = sw.Elapsed.TotalSeconds;
        var recovered = 0;
        while (sw.Elapsed < TimeSpan.FromMinutes(10))
        {
            recovered = second.Engine.ReadSide.CountByState().Values.Sum();
            if (recovered >= count) break;
            await Task.Delay(20);
        }
        var recoveryS = sw.Elapsed.TotalSeconds;
        // Every account answers from memory again.
        var probe = credentials[count / 2].Id;
        var tokenOk = second.Engine.ReadSide.TryGetFreshToken(probe, out _);
        await Task.Delay(1000);
        var (heap2, ws2) = Memory();

        var result = new JsonObject
        {
            ["accounts"] = count,
            ["register_s"] = registerS,
            ["register_per_s"] = count / registerS,
            ["managed_heap_bytes_per_account"] = (double)(heap1 - heap0) / count,
            ["working_set_bytes_per_account"] = (double)(ws1 - ws0) / count,
            ["managed_heap_bytes_per_account_after_recovery"] = (double)(heap2 - heapStopped) / count,
            ["working_set_total_mb_after_recovery"] = ws2 / 1048576.0,
            ["recovery_s"] = recoveryS,
            ["recovery_host_start_s"] = hostStartedS,
            ["recovered_accounts"] = recovered,
            ["token_served_after_recovery"] = tokenOk,
            ["refresh_spread"] = spread,
        };
        options.Write("scale", result);
    }

    private static (long Heap, long WorkingSet) Memory()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        using var process = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), process.WorkingSet64);
    }

    /// <summary>How the scheduled proactive refreshes spread, against the limiter's rate.</summary>
    private static JsonObject RefreshSpread(ActorRefreshPeer peer)
    {
        var due = peer.Engine.ReadSide.Statuses().Select(s => s.NextRefreshAt).OfType<DateTimeOffset>().ToList();
        if (due.Count == 0) return new JsonObject { ["scheduled"] = 0 };
        var perSecond = due.GroupBy(d => d.ToUnixTimeSeconds()).Select(g => g.Count()).ToList();
        return new JsonObject
        {
            ["scheduled"] = due.Count,
            ["first"] = due.Min().ToString("O"),
            ["last"] = due.Max().ToString("O"),
            ["max_due_in_one_second"] = perSecond.Max(),
            ["max_refreshes_per_second_setting"] = peer.Engine.Options.MaxRefreshesPerSecond,
            ["max_concurrent_refreshes_setting"] = peer.Engine.Options.MaxConcurrentRefreshes,
        };
    }
}
