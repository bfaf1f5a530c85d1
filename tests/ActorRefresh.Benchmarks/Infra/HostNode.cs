using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.Testing;

namespace ActorRefresh.Benchmarks.Infra;

/// <summary>One real <c>dotnet actor-refresh.dll serve --cluster</c> process on loopback ports (scenario 6).</summary>
public sealed class HostNode : IAsyncDisposable
{
    private readonly ServeProcess _process;

    private HostNode(ServeProcess process, int httpPort, int akkaPort)
    {
        _process = process;
        HttpPort = httpPort;
        AkkaPort = akkaPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>HTTP API port.</summary>
    public int HttpPort { get; }

    /// <summary>Akka remoting port.</summary>
    public int AkkaPort { get; }

    /// <summary>Client for the node's HTTP API.</summary>
    public HttpClient Http { get; }

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The last lines the node wrote.</summary>
    public string Tail(int lines)
    {
        return string.Join('\n', _process.Output.Split('\n').TakeLast(lines));
    }

    /// <summary>
    /// The Host built in Release next to the benchmarks: <c>ACTORREFRESH_HOST_DLL</c> when set (tests/bench.sh sets it),
    /// otherwise src/ActorRefresh.Host/bin/Release/net10.0/actor-refresh.dll found upwards from this program.
    /// </summary>
    public static string HostDll()
    {
        var set = Environment.GetEnvironmentVariable("ACTORREFRESH_HOST_DLL");
        if (!string.IsNullOrWhiteSpace(set)) return set;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var dll = Path.Combine(dir.FullName, "src", "ActorRefresh.Host", "bin", "Release", "net10.0", "actor-refresh.dll");
            if (File.Exists(dll)) return dll;
        }
        throw new FileNotFoundException("Build the Host first: dotnet build src/ActorRefresh.Host -c Release");
    }

    /// <summary>Starts <c>serve --cluster</c> with the given ports, seeds and environment.</summary>
    public static HostNode Start(int httpPort, int akkaPort, IEnumerable<int> seedPorts, IReadOnlyDictionary<string, string> environment, string dataDirectory)
    {
        string[] arguments = ["serve", "--cluster", "--cluster-port", akkaPort.ToString(CultureInfo.InvariantCulture),
            "--seed-nodes", string.Join(',', seedPorts.Select(p => $"127.0.0.1:{p}")), "--urls", $"http://127.0.0.1:{httpPort}"];
        var process = ServeProcess.Start(HostDll(), arguments, info =>
        {
            foreach (var (key, value) in environment) info.Environment[key] = value;
            info.Environment["ActorRefresh__Storage__DataDirectory"] = dataDirectory;
            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        });
        return new HostNode(process, httpPort, akkaPort);
    }

    /// <summary>A free loopback TCP port.</summary>
    public static int FreePort() => ServeProcess.FreePort();

    /// <summary>SIGKILL: no leave, no hand-off.</summary>
    public void Kill() => _process.Kill();

    /// <summary><c>GET /v1/cluster</c>, or null when the node does not answer.</summary>
    public async Task<JsonElement?> ClusterAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            return await Http.GetFromJsonAsync<JsonElement>("v1/cluster", cts.Token);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Whether this node hosts the account's entity.</summary>
    public async Task<bool> HostsAsync(string accountId) =>
        await ClusterAsync() is { } c && c.GetProperty("hostedHere").EnumerateArray().Any(e => e.GetString() == accountId);

    /// <summary>SIGTERM, then SIGKILL after 10 s.</summary>
    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Terminate();
            if (!await _process.WaitForExitAsync(TimeSpan.FromSeconds(10))) _process.Kill();
        }
        _process.Dispose();
    }
}
