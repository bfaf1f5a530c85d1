using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using ActorRefresh.TestKit;
using Xunit.Abstractions;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// Soak (not part of CI; run tests/soak.sh): a real serve process under minutes of churn — accounts registered and
/// removed, faults of every kind, blocks and re-imports, concurrent callers, refresh cycles of seconds — while its
/// managed heap (from /metrics, meter System.Runtime) and resident set (/proc) are sampled. Memory must end flat.
/// </summary>
public sealed partial class SoakTests(ITestOutputHelper output)
{
    public const string MinutesVariable = "ACTORREFRESH_SOAK_MINUTES";
    private const string Key = "soak-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKL";

    [SoakFact]
    public async Task Memory_stays_flat_under_churn_of_accounts_faults_and_callers()
    {
        var minutes = double.Parse(Environment.GetEnvironmentVariable(MinutesVariable)!, CultureInfo.InvariantCulture);
        var directory = Path.Combine(Path.GetTempPath(), "actorrefresh-soak-" + Guid.NewGuid().ToString("N"));
        await using var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { AccessTokenLifetime = TimeSpan.FromSeconds(20) });
        await using var host = await HostProcess.StartAsync(Key, new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = directory,
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = server.TokenEndpoint.ToString(),
            ["ActorRefresh__Engine__RefreshLead"] = "00:00:06",
            ["ActorRefresh__Engine__RefreshJitter"] = "00:00:02",
            ["ActorRefresh__Engine__MinimumValidity"] = "00:00:01",
            ["ActorRefresh__Engine__MaxRefreshesPerSecond"] = "200",
            ["ActorRefresh__Backoff__RetryAfterMax"] = "00:00:05",
            ["ActorRefresh__Backoff__Cap"] = "00:00:05",
            ["ActorRefresh__Backoff__RejectedDelay"] = "00:00:10",
            ["Serilog__MinimumLevel__Default"] = "Warning",
        });
        var client = host.Client;
        var random = new Random(7);
        var live = new List<string>();
        var next = 0;
        long requests = 0, served = 0, failed = 0, registered = 0, removed = 0;
        var deadline = DateTime.UtcNow.AddMinutes(minutes);
        using var stop = new CancellationTokenSource();

        async Task RegisterAsync()
        {
            var id = $"soak-{next++}";
            var issued = server.CreateAccount(id);
            var response = await client.PostAsJsonAsync("v1/accounts", new { id, provider = "claude", refreshToken = issued.RefreshToken });
            if (response.StatusCode == HttpStatusCode.Created)
            {
                lock (live) live.Add(id);
                Interlocked.Increment(ref registered);
            }
        }

        for (var i = 0; i < 60; i++) await RegisterAsync();

        // Callers: ask for tokens of random accounts, sometimes report the token rejected.
        var callers = Enumerable.Range(0, 24).Select(c => Task.Run(async () =>
        {
            var local = new Random(c);
            while (!stop.IsCancellationRequested)
            {
                string id;
                lock (live) id = live.Count == 0 ? "none" : live[local.Next(live.Count)];
                try
                {
                    var response = await client.GetAsync($"v1/accounts/{id}/token", stop.Token);
                    Interlocked.Increment(ref requests);
                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref served);
                        if (local.Next(200) == 0)
                        {
                            var token = (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(stop.Token)).GetProperty("accessToken").GetString();
                            await client.PostAsJsonAsync($"v1/accounts/{id}/rejected", new { accessToken = token }, stop.Token);
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
                catch (OperationCanceledException)
                {
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        })).ToArray();

        // Churn: faults, blocks, re-imports, removals and new accounts, every 250 ms.
        var churn = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(250);
                string[] snapshot;
                lock (live) snapshot = live.ToArray();
                if (snapshot.Length == 0) continue;
                var id = snapshot[random.Next(snapshot.Length)];
                switch (random.Next(10))
                {
                    case 0: server.Script(id, FakeFault.RateLimited(TimeSpan.FromSeconds(2))); break;
                    case 1: server.Script(id, FakeFault.ServerError(503)); break;
                    case 2: server.Script(id, FakeFault.ConnectionReset); break;
                    case 3: server.Script(id, FakeFault.MalformedJson); break;
                    case 4: server.Script(id, FakeFault.PolicyForbidden()); break;
                    case 5:
                        await client.PostAsync($"v1/accounts/{id}/unblock", null);
                        break;
                    case 6:
                        var fresh = server.RotateExternally(id);
                        await client.PostAsJsonAsync($"v1/import/claude?id={id}", new
                        {
                            claudeAiOauth = new { accessToken = fresh.AccessToken, refreshToken = fresh.RefreshToken, expiresAt = fresh.ExpiresAt.ToUnixTimeMilliseconds() },
                        });
                        break;
                    default:
                        lock (live) live.Remove(id);
                        await client.DeleteAsync($"v1/accounts/{id}");
                        Interlocked.Increment(ref removed);
                        await RegisterAsync();
                        break;
                }
            }
        });

        var samples = new List<(double Minute, double HeapMb, double RssMb, long Requests)>();
        var started = DateTime.UtcNow;
        output.WriteLine("minute  managed-heap-MB  rss-MB  requests  served  failed  accounts-registered  removed");
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(TimeSpan.FromSeconds(10));
            var metrics = await client.GetStringAsync("metrics");
            var heap = HeapBytes(metrics) / 1048576.0;
            var rss = RssBytes(host.Id) / 1048576.0;
            var minute = (DateTime.UtcNow - started).TotalMinutes;
            samples.Add((minute, heap, rss, Interlocked.Read(ref requests)));
            output.WriteLine(FormattableString.Invariant($"{minute,6:0.0}  {heap,15:0.0}  {rss,6:0.0}  {requests,8}  {served,6}  {failed,6}  {registered,19}  {removed,7}"));
        }
        await stop.CancelAsync();
        await Task.WhenAll(callers.Append(churn).Select(t => t.ContinueWith(_ => { })));

        // Flat: after the first third (warm-up: JIT, pools, caches), the last third's average is within 15 % (or 8 MB) of the middle third's.
        Assert.True(samples.Count >= 6, "run at least a minute");
        var third = samples.Count / 3;
        var middle = samples.Skip(third).Take(third).ToList();
        var last = samples.Skip(2 * third).ToList();
        var heapGrowth = last.Average(s => s.HeapMb) - middle.Average(s => s.HeapMb);
        var rssGrowth = last.Average(s => s.RssMb) - middle.Average(s => s.RssMb);
        var flat = heapGrowth <= Math.Max(8, middle.Average(s => s.HeapMb) * 0.15) && rssGrowth <= Math.Max(16, middle.Average(s => s.RssMb) * 0.15);
        output.WriteLine(FormattableString.Invariant(
            $"managed heap {middle.Average(s => s.HeapMb):0.0} -> {last.Average(s => s.HeapMb):0.0} MB, rss {middle.Average(s => s.RssMb):0.0} -> {last.Average(s => s.RssMb):0.0} MB: memory {(flat ? "FLAT" : "GROWING")}"));
        output.WriteLine($"reuse {server.RefreshTokenReuse}, overlapping {server.OverlappingRefreshes}, calls during backoff {server.CallsDuringBackoff}");
        Assert.True(flat, "memory grows under churn");
        Assert.Equal(0, server.OverlappingRefreshes);
        Assert.Equal(0, server.CallsDuringBackoff);
        Assert.True(served > 0);
        var log = host.Output;
        Assert.All(server.IssuedTokens, t => Assert.DoesNotContain(t, log, StringComparison.Ordinal));
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    private static double HeapBytes(string metrics)
    {
        // dotnet_gc_last_collection_heap_size_bytes{gc_heap_generation="gen0"} 1234 ... summed over generations.
        var total = 0.0;
        foreach (Match m in HeapLine().Matches(metrics)) total += double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return total;
    }

    private static double RssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)) ?? "VmRSS: 0 kB";
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    [GeneratedRegex(@"^dotnet_gc_last_collection_heap_size_bytes\{[^}]*\}\s+([0-9.eE+-]+)", RegexOptions.Multiline)]
    private static partial Regex HeapLine();

    private sealed class SoakFactAttribute : FactAttribute
    {
        public SoakFactAttribute()
        {
            if (Environment.GetEnvironmentVariable(MinutesVariable) is null) Skip = $"soak test: run tests/soak.sh (sets {MinutesVariable})";
        }
    }
}
