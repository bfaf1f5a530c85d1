using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ActorRefresh.Benchmarks.Infra;

/// <summary>One real <c>dotnet actor-refresh.dll serve --cluster</c> process on loopback ports (scenario 6).</summary>
public sealed class HostNode : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private HostNode(Process process, int httpPort, int akkaPort)
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
        lock (_log) return string.Join('\n', _log.ToString().Split('\n').TakeLast(lines));
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
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[HostDll(), "serve", "--cluster", "--cluster-port", akkaPort.ToString(CultureInfo.InvariantCulture),
                     "--seed-nodes", string.Join(',', seedPorts.Select(p => $"127.0.0.1:{p}")), "--urls", $"http://127.0.0.1:{httpPort}"])
            info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) info.Environment[key] = value;
        info.Environment["ActorRefresh__Storage__DataDirectory"] = dataDirectory;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = new Process { StartInfo = info };
        var node = new HostNode(process, httpPort, akkaPort);
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>A free loopback TCP port.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>SIGKILL: no leave, no hand-off.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
    }

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
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])) await term.WaitForExitAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }
}
