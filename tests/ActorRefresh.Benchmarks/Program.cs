using ActorRefresh.Benchmarks.HotPath;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Benchmarks.Scenarios;

// Usage: ActorRefresh.Benchmarks <hot|load|scale|cluster|report|all> [--quick] [--out DIR]
var part = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
var quick = args.Contains("--quick");
var outIndex = Array.IndexOf(args, "--out");
var output = Path.GetFullPath(outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine("artifacts", "bench"));
var options = new RunOptions(quick, output);
RunOptions.Log($"part {part}, {(quick ? "quick" : "full")} run, results in {output}");

switch (part)
{
    case "hot":
        await HotPathRunner.RunAsync(options);
        break;
    case "load":
        await LoadScenarios.RunAsync(options);
        break;
    case "scale":
        await ScaleScenario.RunAsync(options);
        break;
    case "cluster":
        await ClusterFailover.RunAsync(options);
        break;
    case "report":
        Console.Out.Write(Report.Write(options));
        break;
    case "all":
        await HotPathRunner.RunAsync(options);
        await LoadScenarios.RunAsync(options);
        await ScaleScenario.RunAsync(options);
        await ClusterFailover.RunAsync(options);
        Console.Out.Write(Report.Write(options));
        break;
    default:
        Console.Error.WriteLine("usage: ActorRefresh.Benchmarks <hot|load|scale|cluster|report|all> [--quick] [--out DIR]");
        return 2;
}
return 0;
