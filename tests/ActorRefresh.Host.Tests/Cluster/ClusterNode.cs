using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>One real <c>actor-refresh serve --cluster</c> process on loopback ports.</summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private ClusterNode(Process process, int httpPort, int akkaPort)
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

    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    /// <summary>Starts the built Host with <c>dotnet actor-refresh.dll serve --cluster</c>.</summary>
    public static ClusterNode Start(int httpPort, int akkaPort, IReadOnlyList<int> seedPorts, IReadOnlyDictionary<string, string> environment, string dataDirectory)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[HostDll, "serve", "--cluster", "--cluster-port", akkaPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--seed-nodes", string.Join(',', seedPorts.Select(p => $"127.0.0.1:{p}")), "--urls", $"http://127.0.0.1:{httpPort}"])
            info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) info.Environment[key] = value;
        info.Environment["ActorRefresh__Storage__DataDirectory"] = dataDirectory;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = new Process { StartInfo = info };
        var node = new ClusterNode(process, httpPort, akkaPort);
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
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

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>SIGKILL: no leave, no hand-off, sockets closed by the kernel.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
    }

    /// <summary>SIGTERM: the host stops, Akka leaves the cluster and hands its shards off.</summary>
    public void Terminate()
    {
        if (_process.HasExited) return;
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

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

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }
}
