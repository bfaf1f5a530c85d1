using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ActorRefresh.Benchmarks.Infra;

/// <summary>Merges the parts into <c>results.json</c> and renders <c>results.md</c> (ratios and goal verdicts).</summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes both files and returns the Markdown table.</summary>
    public static string Write(RunOptions options)
    {
        JsonNode? Part(string name)
        {
            var path = Path.Combine(options.OutputDirectory, name + ".json");
            return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;
        }
        var hot = Part("hotpath");
        var load = Part("load");
        var scale = Part("scale");
        var cluster = Part("cluster");
        var machine = new JsonObject
        {
            ["cores"] = Environment.ProcessorCount,
            ["os"] = RuntimeInformation.OSDescription,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["cpu"] = CpuModel(),
            ["note"] = "shared machine, other builds running: figures are noisy; compare ratios within one run",
        };
        var md = new StringBuilder();
        var goals = new JsonArray();
        md.AppendLine(CultureInfo.InvariantCulture, $"# ActorRefresh benchmarks ({(options.Quick ? "--quick" : "full")} run, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Machine: {machine["cores"]} cores ({machine["cpu"]}), {machine["os"]}, {machine["runtime"]}. Shared and noisy: read the ratios, not the absolute figures.");
        md.AppendLine();
        if (hot is not null) HotPath(hot, md, goals);
        if (load?["stampede"] is { } st) Stampede(st, md, goals);
        if (load?["expiry_storm"] is { } storm) Storm(storm, md, goals);
        if (load?["rate_limited"] is { } rl) RateLimited(rl, md, goals);
        if (scale is not null) Scale(scale, md, goals);
        Cluster(cluster, md, goals);

        md.AppendLine("## Goals");
        md.AppendLine();
        md.AppendLine("| goal | met | measured |");
        md.AppendLine("|---|---|---|");
        foreach (var g in goals)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {g!["goal"]} | {(g["met"] is null ? "n/a" : (bool)g["met"]! ? "yes" : "**no**")} | {g["measured"]} |");
        md.AppendLine();

        var all = new JsonObject
        {
            ["mode"] = options.Quick ? "quick" : "full",
            ["generated_utc"] = DateTime.UtcNow.ToString("O", Inv),
            ["machine"] = machine,
            ["goals"] = goals,
            ["scenarios"] = new JsonObject
            {
                ["1_hot_path"] = hot?.DeepClone(),
                ["2_stampede"] = load?["stampede"]?.DeepClone(),
                ["3_expiry_storm"] = load?["expiry_storm"]?.DeepClone(),
                ["4_rate_limited"] = load?["rate_limited"]?.DeepClone(),
                ["5_scale"] = scale?.DeepClone(),
                ["6_cluster_failover"] = cluster?.DeepClone() ?? new JsonObject { ["status"] = "not run" },
            },
        };
        File.WriteAllText(Path.Combine(options.OutputDirectory, "results.json"), all.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(options.OutputDirectory, "results.md"), md.ToString());
        return md.ToString();
    }

    private static JsonObject Goal(string goal, bool? met, string measured) => new() { ["goal"] = goal, ["met"] = met, ["measured"] = measured };

    private static string F(double v, string format = "0.##") => double.IsNaN(v) ? "–" : v.ToString(format, Inv);

    private static double D(JsonNode? n) => n is null ? double.NaN : n.GetValue<double>();

    private static string M(JsonNode? summary, string format = "0.##") =>
        summary is null ? "–" : D(summary["n"]) <= 1 ? F(D(summary["median"]), format)
        : $"{F(D(summary["median"]), format)} ({F(D(summary["min"]), format)}–{F(D(summary["max"]), format)})";

    private static void HotPath(JsonNode hot, StringBuilder md, JsonArray goals)
    {
        md.AppendLine("## 1. Hot path: GetToken for a valid token");
        md.AppendLine();
        md.AppendLine("BenchmarkDotNet, one thread, in-process toolchain; median ns per call (min–max of iterations), bytes allocated per call, ratio to the ConcurrentDictionary floor (lookup + refresh-point check) of the same run.");
        md.AppendLine();
        md.AppendLine("| contender | accounts | ns/call | ratio to floor | bytes/call |");
        md.AppendLine("|---|---|---|---|---|");
        var rows = hot["bdn"]!.AsArray();
        foreach (var accounts in hot["account_counts"]!.AsArray().Select(a => a!.GetValue<int>()))
        {
            var set = rows.Where(r => r!["accounts"]!.GetValue<int>() == accounts).ToList();
            var floor = set.FirstOrDefault(r => (string)r!["method"]! == "ConcurrentDictionary");
            var floorNs = floor is null ? double.NaN : D(floor["median_ns"]);
            foreach (var r in set)
            {
                var ns = D(r!["median_ns"]);
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r["method"]} | {accounts} | {F(ns)} ({F(D(r["min_ns"]))}–{F(D(r["max_ns"]))}) | {F(ns / floorNs)}× | {F(D(r["allocated_bytes_per_op"]), "0.#")} |");
            }
            var ar = set.FirstOrDefault(r => (string)r!["method"]! == "ActorRefresh");
            var hy = set.FirstOrDefault(r => (string)r!["method"]! == "HybridCache");
            var fu = set.FirstOrDefault(r => (string)r!["method"]! == "FusionCache");
            if (ar is not null)
            {
                var arNs = D(ar["median_ns"]);
                goals.Add(Goal($"1. hot path within 2× of the dictionary ({accounts} accounts, 1 thread)", arNs <= 2 * floorNs, $"{F(arNs / floorNs)}×"));
                if (hy is not null && fu is not null)
                    goals.Add(Goal($"1. hot path faster than HybridCache and FusionCache ({accounts} accounts)", arNs < D(hy["median_ns"]) && arNs < D(fu["median_ns"]),
                        $"{F(D(hy["median_ns"]) / arNs)}× faster than HybridCache, {F(D(fu["median_ns"]) / arNs)}× faster than FusionCache"));
                var bytes = D(ar["allocated_bytes_per_op"]);
                goals.Add(Goal($"1. zero allocations per call ({accounts} accounts)", bytes < 0.5, $"{F(bytes, "0.#")} B/call"));
            }
        }
        md.AppendLine();
        if (hot["threads"] is JsonArray threads)
        {
            md.AppendLine("Thread harness (plain loop, Stopwatch): wall ns per call over all threads (lower is better), median (min–max) of repetitions, ratio to the floor with the same threads and accounts, bytes allocated per call.");
            md.AppendLine();
            md.AppendLine("| contender | accounts | threads | ns/call | ratio to floor | Mcalls/s | bytes/call |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var r in threads)
            {
                var floor = threads.First(f => (string)f!["peer"]! == "ConcurrentDictionary" && f["accounts"]!.GetValue<int>() == r!["accounts"]!.GetValue<int>() && f["threads"]!.GetValue<int>() == r["threads"]!.GetValue<int>());
                var ns = D(r!["median_ns_per_op"]);
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r["peer"]} | {r["accounts"]} | {r["threads"]} | {F(ns)} ({F(D(r["min_ns_per_op"]))}–{F(D(r["max_ns_per_op"]))}) | {F(ns / D(floor!["median_ns_per_op"]))}× | {F(D(r["median_mops_per_s"]))} | {F(D(r["allocated_bytes_per_op"]), "0.#")} |");
            }
            md.AppendLine();
        }
    }

    private static void Stampede(JsonNode st, StringBuilder md, JsonArray goals)
    {
        var latency = D(st["upstream_latency_ms"]);
        md.AppendLine(CultureInfo.InvariantCulture, $"## 2. Stampede: {st["callers"]} concurrent callers, one account past its refresh point, upstream latency {F(latency)} ms");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Median (min–max) over {st["repetitions"]} repetitions.");
        md.AppendLine();
        md.AppendLine("| contender | upstream calls | refresh-token reuse | failed callers | caller p50 ms | caller p99 ms | slowest caller ms | all answered (wall) ms |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in st["rows"]!.AsArray())
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r!["peer"]} | {M(r["upstream_calls"], "0")} | {M(r["refresh_token_reuse"], "0")} | {M(r["failed_callers"], "0")} | {M(r["caller_p50_ms"], "0.0")} | {M(r["caller_p99_ms"], "0.0")} | {M(r["caller_max_ms"], "0.0")} | {M(r["wall_ms"], "0.0")} |");
        md.AppendLine();
        var ar = st["rows"]!.AsArray().First(r => (string)r!["peer"]! == "ActorRefresh")!;
        goals.Add(Goal("2. stampede: exactly 1 upstream call", D(ar["upstream_calls"]!["max"]) == 1 && D(ar["upstream_calls"]!["min"]) == 1, $"{M(ar["upstream_calls"], "0")} calls"));
        goals.Add(Goal($"2. stampede: all callers answered within {F(latency + 5)} ms", D(ar["caller_max_ms"]!["median"]) <= latency + 5,
            $"slowest caller {M(ar["caller_max_ms"], "0.0")} ms, wall {M(ar["wall_ms"], "0.0")} ms"));
    }

    private static void Storm(JsonNode storm, StringBuilder md, JsonArray goals)
    {
        var k = storm["k"]!.GetValue<int>();
        md.AppendLine(CultureInfo.InvariantCulture, $"## 3. Expiry storm: {storm["accounts"]} accounts reaching their refresh point within 1 s, K = {k}, upstream latency {F(D(storm["upstream_latency_ms"]))} ms");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Baseline measured in the same run: upstream throughput with exactly K calls in flight = {M(storm["throughput_at_k_per_s"], "0")} refreshes/s, so the ideal completion is {F(D(storm["ideal_completion_s"]))} s. One caller per account at its refresh point; the caches have no limiter, so \"calls over K\" are the calls a provider enforcing K would answer 429. Median (min–max) over {storm["repetitions"]} repetitions.");
        md.AppendLine();
        md.AppendLine("| contender | completion s | vs ideal | max in flight (client / server) | calls over K | 429s | upstream calls | failed callers | caller p99 ms |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in storm["rows"]!.AsArray())
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r!["peer"]} | {M(r["completion_s"])} | {F(D(r["completion_vs_ideal"]))}× | {M(r["max_in_flight"], "0")} / {M(r["max_in_flight_server"], "0")} | {M(r["calls_over_k"], "0")} | {M(r["responses_429"], "0")} | {M(r["upstream_calls"], "0")} | {M(r["failed_callers"], "0")} | {M(r["caller_p99_ms"], "0")} |");
        md.AppendLine();
        var ar = storm["rows"]!.AsArray().First(r => (string)r!["peer"]! == "ActorRefresh")!;
        goals.Add(Goal($"3. storm: never more than K={k} in flight", D(ar["max_in_flight"]!["max"]) <= k, $"max {M(ar["max_in_flight"], "0")}"));
        goals.Add(Goal("3. storm: zero 429s provoked", D(ar["responses_429"]!["max"]) == 0 && D(ar["calls_over_k"]!["max"]) == 0, $"{M(ar["responses_429"], "0")} 429s, {M(ar["calls_over_k"], "0")} calls over K"));
        goals.Add(Goal("3. storm: completion within 10% of N / throughput(K)", D(ar["completion_vs_ideal"]) <= 1.10, $"{F(D(ar["completion_vs_ideal"]))}× ideal ({M(ar["completion_s"])} s vs {F(D(storm["ideal_completion_s"]))} s)"));
    }

    private static void RateLimited(JsonNode rl, StringBuilder md, JsonArray goals)
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"## 4. Rate-limited account: 429 with Retry-After {F(D(rl["retry_after_s"]))} s under {F(D(rl["offered_rate_per_s"]))} requests/s");
        md.AppendLine();
        md.AppendLine("One run per contender (the window is the Retry-After). The token is past its refresh point but still valid for longer than the backoff; the engine is also run with no valid token (callers then get an immediate \"backing off\" error).");
        md.AppendLine();
        md.AppendLine("| contender | requests (achieved/s) | upstream calls before Retry-After | with token | with error | caller p50 ms | caller p99 ms | slowest ms | callers ≥ 1 ms |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rl["rows"]!.AsArray())
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r!["peer"]} | {r["requests"]} ({F(D(r["achieved_rate_per_s"]), "0")}) | {r["upstream_calls_during_backoff"]} | {r["answered_with_token"]} | {r["answered_with_error"]} | {F(D(r["caller_p50_ms"]), "0.000")} | {F(D(r["caller_p99_ms"]), "0.000")} | {F(D(r["caller_max_ms"]), "0.0")} | {r["callers_over_1ms"]} |");
        md.AppendLine();
        foreach (var ar in rl["rows"]!.AsArray().Where(r => ((string)r!["peer"]!).StartsWith("ActorRefresh", StringComparison.Ordinal)))
        {
            goals.Add(Goal($"4. zero upstream calls before Retry-After — {ar!["peer"]}", ar["upstream_calls_during_backoff"]!.GetValue<int>() == 0, $"{ar["upstream_calls_during_backoff"]} calls"));
            goals.Add(Goal($"4. every caller under 1 ms during backoff — {ar["peer"]}", ar["callers_over_1ms"]!.GetValue<int>() == 0,
                $"p50 {F(D(ar["caller_p50_ms"]), "0.000")} ms, p99 {F(D(ar["caller_p99_ms"]), "0.000")} ms, {ar["callers_over_1ms"]} of {ar["requests"]} ≥ 1 ms"));
        }
    }

    private static void Scale(JsonNode s, StringBuilder md, JsonArray goals)
    {
        var n = s["accounts"]!.GetValue<int>();
        md.AppendLine(CultureInfo.InvariantCulture, $"## 5. Scale: {n} registered accounts on one node (SQLite)");
        md.AppendLine();
        md.AppendLine("| measure | value |");
        md.AppendLine("|---|---|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| register all | {F(D(s["register_s"]), "0.0")} s ({F(D(s["register_per_s"]), "0")}/s, 64 in flight) |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| managed heap per idle account | {F(D(s["managed_heap_bytes_per_account"]), "0")} B (after recovery: {F(D(s["managed_heap_bytes_per_account_after_recovery"]), "0")} B) |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| working set per account | {F(D(s["working_set_bytes_per_account"]), "0")} B (process total after recovery {F(D(s["working_set_total_mb_after_recovery"]), "0")} MB) |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| recovery after restart (every account running, token served) | {F(D(s["recovery_s"]), "0.0")} s ({s["recovered_accounts"]} accounts; host start {F(D(s["recovery_host_start_s"]), "0.0")} s; token served: {s["token_served_after_recovery"]}) |");
        if (s["refresh_spread"] is JsonObject spread && spread["max_due_in_one_second"] is not null)
            md.AppendLine(CultureInfo.InvariantCulture, $"| proactive refreshes scheduled | {spread["scheduled"]} between {spread["first"]} and {spread["last"]}; at most {spread["max_due_in_one_second"]} due in one second (limiter: {spread["max_refreshes_per_second_setting"]}/s, {spread["max_concurrent_refreshes_setting"]} in flight) |");
        md.AppendLine();
        var heap = D(s["managed_heap_bytes_per_account"]);
        goals.Add(Goal($"5. under 4 KB managed heap per idle account ({n} accounts)", heap < 4096, $"{F(heap, "0")} B"));
        var rec = D(s["recovery_s"]);
        var scaled = rec * 100_000 / n;
        goals.Add(Goal($"5. recovery of 100,000 accounts under 30 s{(n < 100_000 ? $" (measured {n}, linear extrapolation)" : "")}", scaled < 30,
            n < 100_000 ? $"{F(rec, "0.0")} s for {n} → ~{F(scaled, "0")} s for 100,000" : $"{F(rec, "0.0")} s"));
    }

    private static void Cluster(JsonNode? c, StringBuilder md, JsonArray goals)
    {
        md.AppendLine("## 6. Cluster failover: SIGKILL of the node hosting a busy account");
        md.AppendLine();
        if (c is null || c["status"] is not null)
        {
            var why = (string?)c?["status"] ?? "not run";
            md.AppendLine(CultureInfo.InvariantCulture, $"Not measured: {why}.");
            md.AppendLine();
            goals.Add(Goal("6. cluster failover < 10 s (test timings)", null, why));
            goals.Add(Goal("6. cluster failover < 20 s (production timings)", null, why));
            return;
        }
        md.AppendLine("Three `actor-refresh serve --cluster` processes on one PostgreSQL database, callers on every node, the hosting node killed while a refresh is in flight. Seconds from the SIGKILL until a survivor answers the account, counting only requests started after the kill (token requests every 20 ms on every node, status requests every 100 ms on each survivor): its status from the entity restarted on a survivor (the figure the goal is judged on, as in ClusterTests), the first token over HTTP (a survivor's read-side replica may still hold a fresh token and answer at once), and the first token newly issued after the kill (the moved entity refreshed). Median (min–max) over repetitions. The caches have no counterpart: each is one process, and a crash loses their tokens.");
        md.AppendLine();
        md.AppendLine("| timings | repetitions | account answers (status from the entity) s | first token s | first newly issued token s | cluster formed in s | refresh-token reuse | overlapping refreshes |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var (key, goal) in new[] { ("test", 10.0), ("production", 20.0) })
        {
            var r = c[key];
            if (r is null) continue;
            if (r["status"] is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {key} | – | not measured: {r["status"]} | | | | | |");
                goals.Add(Goal($"6. cluster failover < {goal:0} s ({key} timings)", null, $"not measured: {r["status"]}"));
                continue;
            }
            var n = D(r["status_answered_s"]!["n"]);
            md.AppendLine(CultureInfo.InvariantCulture, $"| {key} | {n:0} of {r["repetitions"]} | {M(r["status_answered_s"], "0.00")} | {M(r["token_answered_s"], "0.00")} | {M(r["new_token_answered_s"], "0.00")} | {F(D(r["cluster_formation_s"]), "0.0")} | {r["upstream"]?["refresh_token_reuse"]} | {r["upstream"]?["overlapping_refreshes"]} |");
            var median = D(r["status_answered_s"]!["median"]);
            var errors = r["errors"]!.AsArray();
            goals.Add(Goal($"6. cluster failover < {goal:0} s ({key} timings)", n > 0 && errors.Count == 0 ? median < goal : n > 0 ? false : null,
                n > 0 ? $"account answered on a survivor after {M(r["status_answered_s"], "0.00")} s (new token {M(r["new_token_answered_s"], "0.00")} s)" + (errors.Count > 0 ? $"; {errors.Count} errors" : "") : $"no repetition completed: {errors.FirstOrDefault()}"));
        }
        md.AppendLine();
        foreach (var key in new[] { "test", "production" })
        {
            var samples = c[key]?["samples"]?.AsArray();
            if (samples is null || samples.Count == 0) continue;
            var each = string.Join("; ", samples.Select(x => F(D(x!["status_answered_s"]), "0.00") + " / " + F(D(x!["token_answered_s"]), "0.00") + " / " + F(D(x!["new_token_answered_s"]), "0.00")));
            md.AppendLine(CultureInfo.InvariantCulture, $"Samples, {key} timings (status from the entity / first token / first newly issued token, s): {each}");
            md.AppendLine();
        }
        foreach (var key in new[] { "test", "production" })
            foreach (var e in c[key]?["errors"]?.AsArray() ?? [])
                md.AppendLine(CultureInfo.InvariantCulture, $"- {key}: {((string)e!).Split('\n')[0]}");
        md.AppendLine();
    }

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }
}
