using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.Testing;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>One real <c>actor-refresh serve --cluster</c> process on loopback ports.</summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private readonly ServeProcess _process;

    private ClusterNode(ServeProcess process, int httpPort, int akkaPort)
    {
        _process = process;
        HttpPort = httpPort;
        AkkaPort = akkaPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(15) };
    }

    public int HttpPort { get; }

    public int AkkaPort { get; }

    public string Address => $"akka.tcp://actor-refresh@127.0.0.1:{AkkaPort}";

    public HttpClient Http { get; }

    public bool HasExited => _process.HasExited;

    public string Log => _process.Output;

    /// <summary>Starts the built Host with <c>dotnet actor-refresh.dll serve --cluster</c>.</summary>
    public static ClusterNode Start(int httpPort, int akkaPort, IReadOnlyList<int> seedPorts, IReadOnlyDictionary<string, string> environment, string dataDirectory)
    {
        string[] arguments = ["serve", "--cluster", "--cluster-port", akkaPort.ToString(CultureInfo.InvariantCulture),
            "--seed-nodes", string.Join(',', seedPorts.Select(p => $"127.0.0.1:{p}")), "--urls", $"http://127.0.0.1:{httpPort}"];
        var process = ServeProcess.Start(HostDll, arguments, info =>
        {
            foreach (var (key, value) in environment) info.Environment[key] = value;
            info.Environment["ActorRefresh__Storage__DataDirectory"] = dataDirectory;
            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        });
        return new ClusterNode(process, httpPort, akkaPort);
    }

    /// <summary>The built Host next to this test's build: src/ActorRefresh.Host/bin/&lt;configuration&gt;/net10.0/actor-refresh.dll.</summary>
    public static string HostDll
    {
        get
        {
            var testDir = new DirectoryInfo(AppContext.BaseDirectory);
            var framework = testDir.Name;
            var configuration = testDir.Parent!.Name;
            var root = testDir.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
            var dll = Path.Combine(root, "src", "ActorRefresh.Host", "bin", configuration, framework, "actor-refresh.dll");
            if (!File.Exists(dll)) throw new FileNotFoundException($"Build the Host first: {dll} does not exist.", dll);
            return dll;
        }
    }

    public static int FreePort() => ServeProcess.FreePort();

    /// <summary>SIGKILL: no leave, no hand-off, sockets closed by the kernel.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: the host stops, Akka leaves the cluster and hands its shards off.</summary>
    public void Terminate() => _process.Terminate();

    public Task<bool> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

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

    public async Task<bool> HostsAsync(string accountId) =>
        await ClusterAsync() is { } c && c.GetProperty("hostedHere").EnumerateArray().Any(e => e.GetString() == accountId);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            Terminate();
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(10))) Kill();
        }
        _process.Dispose();
    }
}
