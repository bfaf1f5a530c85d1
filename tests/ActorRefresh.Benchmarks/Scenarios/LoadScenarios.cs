using System.Diagnostics;
using System.Text.Json.Nodes;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Benchmarks.Peers;
using ActorRefresh.TestKit;

namespace ActorRefresh.Benchmarks.Scenarios;

/// <summary>Scenarios 2–4: stampede, expiry storm, rate-limited account. Every contender, same run, same upstream setup.</summary>
public static class LoadScenarios
{
    private static readonly TimeSpan Lead = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    /// <summary>Runs the three scenarios and writes <c>load.json</c>.</summary>
    public static async Task RunAsync(RunOptions options)
    {
        var result = new JsonObject
        {
            ["stampede"] = await StampedeAsync(options),
            ["expiry_storm"] = await ExpiryStormAsync(options),
            ["rate_limited"] = await RateLimitedAsync(options),
        };
        options.Write("load", result);
    }

    // ---- scenario 2 ------------------------------------------------------------------------------------

    private static async Task<JsonObject> StampedeAsync(RunOptions options)
    {
        const int callers = 10_000;
        var latency = TimeSpan.FromMilliseconds(50);
        var rows = new JsonArray();
        foreach (var name in PeerFactory.Names)
        {
            RunOptions.Log($"scenario 2: stampede, {name}");
            await using var upstream = await Upstream.StartAsync(latency, Lifetime);
            await using var peer = await PeerFactory.CreateAsync(name, upstream, Lead, Lifetime, Engine(jitter: TimeSpan.Zero, k: 64));
            var upstreamCalls = new List<double>();
            var maxMs = new List<double>();
            var p50 = new List<double>();
            var p99 = new List<double>();
            var wall = new List<double>();
            var failures = new List<double>();
            var reuse = new List<double>();
            for (var rep = -1; rep < options.Repetitions; rep++)
            {
                // Repetition -1 is a warm-up (JIT, connection pool) and is not recorded.
                var id = $"stampede-{rep + 1}";
                var t0 = DateTimeOffset.UtcNow.AddSeconds(0.8);
                var tokens = upstream.Server.CreateAccount(id);
                await peer.AddAsync(id, tokens.RefreshToken, tokens.AccessToken, t0 + Lead);
                await peer.GetTokenAsync(id); // warm: served from the cache, no upstream call
                var reuseBefore = upstream.Server.RefreshTokenReuse;
                await Timing.UntilAsync(t0.AddMilliseconds(1));

                var start = Stopwatch.GetTimestamp();
                var tasks = new Task<(double Ms, bool Ok, long End)>[callers];
                for (var i = 0; i < callers; i++) tasks[i] = Timing.CallAsync(peer, id);
                var answers = await Task.WhenAll(tasks);
                var lat = answers.Select(a => a.Ms).Order().ToArray();
                if (rep < 0) continue;

                upstreamCalls.Add(upstream.Server.RefreshCalls(id));
                maxMs.Add(lat[^1]);
                p50.Add(Summary.Percentile(lat, 50));
                p99.Add(Summary.Percentile(lat, 99));
                wall.Add(Timing.Ms(start, answers.Max(a => a.End)));
                failures.Add(answers.Count(a => !a.Ok));
                reuse.Add(upstream.Server.RefreshTokenReuse - reuseBefore);
            }
            rows.Add(new JsonObject
            {
                ["peer"] = name,
                ["upstream_calls"] = Json(upstreamCalls),
                ["caller_max_ms"] = Json(maxMs),
                ["caller_p50_ms"] = Json(p50),
                ["caller_p99_ms"] = Json(p99),
                ["wall_ms"] = Json(wall),
                ["failed_callers"] = Json(failures),
                ["refresh_token_reuse"] = Json(reuse),
            });
        }
        return new JsonObject { ["callers"] = callers, ["upstream_latency_ms"] = latency.TotalMilliseconds, ["repetitions"] = options.Repetitions, ["rows"] = rows };
    }

    // ---- scenario 3 ------------------------------------------------------------------------------------

    private static async Task<JsonObject> ExpiryStormAsync(RunOptions options)
    {
        var accounts = options.Quick ? 1_000 : 10_000;
        var k = options.Quick ? 8 : 32;
        var latency = TimeSpan.FromMilliseconds(20);
        var reps = options.Quick ? 2 : 3;

        // Baseline in the same run: upstream throughput with exactly K calls in flight, no engine.
        RunOptions.Log($"scenario 3: expiry storm baseline, {accounts} refreshes at K={k}");
        var throughputs = new List<double>();
        await using (var upstream = await Upstream.StartAsync(latency, Lifetime))
        {
            for (var rep = 0; rep < reps; rep++)
            {
                var refreshTokens = Enumerable.Range(0, accounts).Select(i => upstream.Server.CreateAccount($"base-{rep}-{i}").RefreshToken).ToArray();
                var next = -1;
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, k).Select(_ => Task.Run(async () =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < accounts)
                        await upstream.Client.RefreshAsync(upstream.Profile, new Core.Tokens.Secret(refreshTokens[i]), CancellationToken.None);
                })));
                throughputs.Add(accounts / sw.Elapsed.TotalSeconds);
            }
        }
        var throughputAtK = Summary.Of(throughputs);
        var idealS = accounts / throughputAtK.Median;

        var rows = new JsonArray();
        foreach (var name in PeerFactory.Names)
        {
            RunOptions.Log($"scenario 3: expiry storm, {name}");
            await using var upstream = await Upstream.StartAsync(latency, Lifetime, limitInFlight: k);
            await using var peer = await PeerFactory.CreateAsync(name, upstream, Lead, Lifetime, Engine(jitter: TimeSpan.Zero, k: k));
            var completion = new List<double>();
            var peak = new List<double>();
            var serverPeak = new List<double>();
            var over = new List<double>();
            var limited = new List<double>();
            var calls = new List<double>();
            var failures = new List<double>();
            var p99 = new List<double>();
            var registerRates = new List<double>();
            var invalid = 0;
            // The engine journals each registration: measure its rate on 200 accounts (expiring in hours, never part of
            // the storm) so the storm starts once every account is registered, without waiting longer than needed.
            double? registerRate = null;
            if (peer is ActorRefreshPeer)
            {
                var probe = Stopwatch.StartNew();
                await PeerFactory.AddAccountsAsync(peer, upstream, "probe", 200, _ => DateTimeOffset.UtcNow + Lifetime);
                registerRate = 200 / probe.Elapsed.TotalSeconds;
            }
            for (var rep = 0; rep < reps; rep++)
            {
                // Refresh points spread uniformly over one second starting at t0, far enough ahead for every account
                // to be registered first: 1.25× the slowest registration rate seen so far, plus 1 s, at most 25 ms per account.
                var margin = registerRate is { } r
                    ? TimeSpan.FromSeconds(Math.Min(accounts * 0.025, accounts / r * 1.25 + 1))
                    : TimeSpan.FromMilliseconds(accounts * 0.2);
                var t0 = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2) + margin;
                var registerClock = Stopwatch.StartNew();
                var ids = await PeerFactory.AddAccountsAsync(peer, upstream, $"storm-{rep}", accounts,
                    i => t0 + TimeSpan.FromSeconds((double)i / accounts) + Lead);
                registerRates.Add(accounts / registerClock.Elapsed.TotalSeconds);
                if (registerRate is not null) registerRate = Math.Min(registerRate.Value, registerRates[^1]);
                if (DateTimeOffset.UtcNow > t0 - TimeSpan.FromMilliseconds(200))
                {
                    RunOptions.Log($"scenario 3: {name}: registration ran past the storm's start; repetition not counted");
                    invalid++;
                    continue;
                }
                upstream.Client.Reset();
                upstream.Server.ResetCounters();
                await Timing.UntilAsync(t0);
                var started = Stopwatch.GetTimestamp();
                var tasks = new List<Task<(double Ms, bool Ok, long End)>>(accounts);
                var issued = 0;
                while (issued < accounts)
                {
                    var now = DateTimeOffset.UtcNow;
                    while (issued < accounts && t0 + TimeSpan.FromSeconds((double)issued / accounts) + TimeSpan.FromMilliseconds(1) <= now)
                        tasks.Add(Timing.CallAsync(peer, ids[issued++]));
                    await Task.Delay(1);
                }
                var answers = await Task.WhenAll(tasks);
                var lat = answers.Select(a => a.Ms).Order().ToArray();
                completion.Add(Timing.Ms(started, answers.Max(a => a.End)) / 1000.0);
                peak.Add(upstream.Client.PeakInFlight);
                serverPeak.Add(upstream.Server.MaxConcurrentRefreshes);
                over.Add(upstream.Client.OverLimit);
                limited.Add(upstream.Client.RateLimited);
                calls.Add(upstream.Client.Calls);
                failures.Add(answers.Count(a => !a.Ok));
                p99.Add(Summary.Percentile(lat, 99));
            }
            if (completion.Count == 0) completion.Add(double.NaN);
            var c = Summary.Of(completion);
            rows.Add(new JsonObject
            {
                ["peer"] = name,
                ["completion_s"] = Json(completion),
                ["completion_vs_ideal"] = c.Median / idealS,
                ["max_in_flight"] = Json(peak),
                ["max_in_flight_server"] = Json(serverPeak),
                ["calls_over_k"] = Json(over),
                ["responses_429"] = Json(limited),
                ["upstream_calls"] = Json(calls),
                ["failed_callers"] = Json(failures),
                ["caller_p99_ms"] = Json(p99),
                ["accounts_added_per_s"] = Json(registerRates),
                ["repetitions_not_counted"] = invalid,
            });
        }
        return new JsonObject
        {
            ["accounts"] = accounts,
            ["k"] = k,
            ["upstream_latency_ms"] = latency.TotalMilliseconds,
            ["repetitions"] = reps,
            ["throughput_at_k_per_s"] = Json(throughputs),
            ["ideal_completion_s"] = idealS,
            ["rows"] = rows,
        };
    }

    // ---- scenario 4 ------------------------------------------------------------------------------------

    private static async Task<JsonObject> RateLimitedAsync(RunOptions options)
    {
        var retryAfter = TimeSpan.FromSeconds(options.Quick ? 5 : 30);
        const int ratePerSecond = 10_000;
        var rows = new JsonArray();
        var variants = PeerFactory.Names.Select(n => (Name: n, ValidToken: true)).Prepend(("ActorRefresh", false)).ToList();
        foreach (var (name, validToken) in variants)
        {
            var label = name == "ActorRefresh" ? $"ActorRefresh ({(validToken ? "token still valid" : "no valid token")})" : name;
            RunOptions.Log($"scenario 4: rate-limited account, {label}");
            await using var upstream = await Upstream.StartAsync(TimeSpan.Zero, Lifetime);
            await using var peer = await PeerFactory.CreateAsync(name, upstream, Lead, Lifetime, Engine(jitter: TimeSpan.Zero, k: 4));
            const string id = "limited";
            var tokens = upstream.Server.CreateAccount(id);
            upstream.Server.SetPersistentFault(id, FakeFault.RateLimited(retryAfter));
            // Past its refresh point; still valid for longer than the backoff (or, for the second variant, no token at all).
            var expiresAt = DateTimeOffset.UtcNow + Lead / 2;
            if (peer is ActorRefreshPeer ar && !validToken)
                await ar.Accounts.RegisterAsync(new Engine.Accounts.AccountCredentials(id, "claude", new Core.Tokens.Secret(tokens.RefreshToken)));
            else
                await peer.AddAsync(id, tokens.RefreshToken, tokens.AccessToken, expiresAt);

            // The first 429 (the engine's own proactive refresh, or the first caller of a cache) starts the backoff.
            try { await peer.GetTokenAsync(id); } catch (Exception) { }
            var deadline = Stopwatch.StartNew();
            while (upstream.Client.RateLimited == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5);
            var first429 = DateTimeOffset.UtcNow;
            var callsAtStart = upstream.Server.RefreshCalls(id);

            // Continuous load until shortly before the Retry-After ends.
            var windowEnd = first429 + retryAfter - TimeSpan.FromMilliseconds(300);
            var latencies = new List<Task<(double Ms, bool Ok, long End)>>(ratePerSecond * (int)retryAfter.TotalSeconds);
            var loadStart = Stopwatch.GetTimestamp();
            long issued = 0;
            while (DateTimeOffset.UtcNow < windowEnd)
            {
                var due = (long)(Timing.Ms(loadStart, Stopwatch.GetTimestamp()) * ratePerSecond / 1000.0);
                for (; issued < due; issued++) latencies.Add(Timing.CallAsync(peer, id));
                await Task.Delay(1);
            }
            var loadSeconds = Timing.Ms(loadStart, Stopwatch.GetTimestamp()) / 1000.0;
            var answers = await Task.WhenAll(latencies);
            var callsDuring = upstream.Server.RefreshCalls(id) - callsAtStart;
            var serverDuringBackoff = upstream.Server.CallsDuringBackoff;
            upstream.Server.SetPersistentFault(id, null);
            var lat = answers.Select(a => a.Ms).Order().ToArray();
            rows.Add(new JsonObject
            {
                ["peer"] = label,
                ["requests"] = answers.Length,
                ["achieved_rate_per_s"] = answers.Length / loadSeconds,
                ["upstream_calls_during_backoff"] = callsDuring,
                ["server_calls_before_retry_after"] = serverDuringBackoff,
                ["answered_with_token"] = answers.Count(a => a.Ok),
                ["answered_with_error"] = answers.Count(a => !a.Ok),
                ["caller_p50_ms"] = Summary.Percentile(lat, 50),
                ["caller_p99_ms"] = Summary.Percentile(lat, 99),
                ["caller_max_ms"] = lat.Length > 0 ? lat[^1] : double.NaN,
                ["callers_over_1ms"] = lat.Count(l => l >= 1.0),
            });
        }
        return new JsonObject { ["retry_after_s"] = retryAfter.TotalSeconds, ["offered_rate_per_s"] = ratePerSecond, ["rows"] = rows };
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    private static Dictionary<string, string?> Engine(TimeSpan jitter, int k) => new()
    {
        ["RefreshJitter"] = jitter.ToString("c"),
        ["MaxConcurrentRefreshes"] = k.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["MaxRefreshesPerSecond"] = "1000000",
    };

    private static JsonObject Json(IEnumerable<double> values)
    {
        var s = Summary.Of(values);
        return new JsonObject { ["median"] = s.Median, ["min"] = s.Min, ["max"] = s.Max, ["n"] = s.N };
    }
}
