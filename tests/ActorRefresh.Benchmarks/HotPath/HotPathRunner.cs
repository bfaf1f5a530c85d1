using System.Diagnostics;
using System.Text.Json.Nodes;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Benchmarks.Peers;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace ActorRefresh.Benchmarks.HotPath;

/// <summary>Runs scenario 1: BenchmarkDotNet single-thread figures, then a 1- and 2-thread throughput harness.</summary>
public static class HotPathRunner
{

    /// <summary>Runs and writes <c>hotpath.json</c>.</summary>
    public static async Task RunAsync(RunOptions options)
    {
        HotPathFixtures.AccountCounts = options.Quick ? [1, 1_000] : [1, 10_000];
        try
        {
            var result = new JsonObject
            {
                ["account_counts"] = new JsonArray(HotPathFixtures.AccountCounts.Select(c => (JsonNode)c).ToArray()),
                ["bdn"] = RunBenchmarkDotNet(options),
                ["threads"] = RunThreads(options),
            };
            options.Write("hotpath", result);
        }
        finally
        {
            await HotPathFixtures.DisposeAllAsync();
        }
    }

    private static JsonArray RunBenchmarkDotNet(RunOptions options)
    {
        RunOptions.Log("scenario 1: BenchmarkDotNet (in-process)");
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(options.Quick ? 3 : 6)
            .WithIterationCount(options.Quick ? 7 : 15)
            .WithIterationTime(TimeInterval.FromMilliseconds(options.Quick ? 100 : 250))
            .WithId(options.Quick ? "quick" : "full");
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddLogger(new ConsoleErrorLogger())
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .WithArtifactsPath(Path.Combine(options.OutputDirectory, "bdn"))
            .WithOptions(ConfigOptions.JoinSummary | ConfigOptions.DisableLogFile);
        var summary = BenchmarkRunner.Run<HotPathBenchmarks>(config);
        var rows = new JsonArray();
        foreach (var report in summary.Reports)
        {
            var stats = report.ResultStatistics;
            if (stats is null) continue;
            rows.Add(new JsonObject
            {
                ["method"] = report.BenchmarkCase.Descriptor.WorkloadMethod.Name,
                ["accounts"] = Convert.ToInt32(report.BenchmarkCase.Parameters["Accounts"], System.Globalization.CultureInfo.InvariantCulture),
                ["median_ns"] = stats.Median,
                ["min_ns"] = stats.Min,
                ["max_ns"] = stats.Max,
                ["q1_ns"] = stats.Q1,
                ["q3_ns"] = stats.Q3,
                ["iterations"] = stats.N,
                ["allocated_bytes_per_op"] = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) ?? -1,
            });
        }
        return rows;
    }

    private static JsonArray RunThreads(RunOptions options)
    {
        var rows = new JsonArray();
        var duration = TimeSpan.FromMilliseconds(options.Quick ? 250 : 1000);
        foreach (var accounts in HotPathFixtures.AccountCounts)
        {
            foreach (var name in PeerFactory.Names)
            {
                RunOptions.Log($"scenario 1: threads harness, {name}, {accounts} accounts");
                var (peer, ids) = HotPathFixtures.Get(name, accounts);
                foreach (var threads in new[] { 1, 2 })
                {
                    Measure(peer, ids, threads, TimeSpan.FromMilliseconds(200)); // warm-up
                    var nsPerOp = new List<double>();
                    var bytesPerOp = new List<double>();
                    for (var r = 0; r < options.Repetitions; r++)
                    {
                        var (ns, bytes) = Measure(peer, ids, threads, duration);
                        nsPerOp.Add(ns);
                        bytesPerOp.Add(bytes);
                    }
                    var s = Summary.Of(nsPerOp);
                    rows.Add(new JsonObject
                    {
                        ["peer"] = name,
                        ["accounts"] = accounts,
                        ["threads"] = threads,
                        ["median_ns_per_op"] = s.Median,
                        ["min_ns_per_op"] = s.Min,
                        ["max_ns_per_op"] = s.Max,
                        ["median_mops_per_s"] = 1000.0 / s.Median,
                        ["allocated_bytes_per_op"] = Summary.Of(bytesPerOp).Median,
                        ["repetitions"] = s.N,
                    });
                }
            }
        }
        return rows;
    }

    /// <summary>Wall time per operation (ns, over all threads: elapsed / total ops) and bytes allocated per op.</summary>
    private static (double NsPerOp, double BytesPerOp) Measure(ITokenPeer peer, string[] ids, int threads, TimeSpan duration)
    {
        long total = 0;
        using var start = new Barrier(threads + 1);
        var stop = 0;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            long ops = 0;
            var next = t * 7919 % ids.Length;
            start.SignalAndWait();
            while (Volatile.Read(ref stop) == 0)
            {
                for (var i = 0; i < 256; i++)
                {
                    if (++next >= ids.Length) next = 0;
                    peer.GetTokenAsync(ids[next]).GetAwaiter().GetResult();
                }
                ops += 256;
            }
            Interlocked.Add(ref total, ops);
        })
        { IsBackground = true }).ToList();
        workers.ForEach(w => w.Start());
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        start.SignalAndWait();
        var sw = Stopwatch.StartNew();
        Thread.Sleep(duration);
        Volatile.Write(ref stop, 1);
        workers.ForEach(w => w.Join());
        sw.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        return (sw.Elapsed.TotalNanoseconds / total, (double)allocated / total);
    }

    private sealed class ConsoleErrorLogger : ILogger
    {
        public string Id => "stderr";
        public int Priority => 0;
        public void Write(LogKind logKind, string text) => Console.Error.Write(text);
        public void WriteLine() => Console.Error.WriteLine();
        public void WriteLine(LogKind logKind, string text) => Console.Error.WriteLine(text);
        public void Flush() => Console.Error.Flush();
    }
}
