using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace ActorRefresh.Testing;

/// <summary>
/// One real <c>actor-refresh serve --cluster</c> process on loopback ports, used by the cluster tests and the failover
/// benchmark.
/// </summary>
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

    /// <summary>The process's exit code (only once <see cref="HasExited"/>).</summary>
    public int ExitCode => _process.ExitCode;

    public string Log => _process.Output;

    /// <summary>The last lines the node wrote.</summary>
    public string Tail(int lines) => string.Join('\n', Log.Split('\n').TakeLast(lines));

    /// <summary>
    /// Starts the built Host with <c>dotnet <paramref name="hostDll"/> serve --cluster</c>; no <c>--seed-nodes</c> when
    /// <paramref name="seedPorts"/> is empty (seed nodes from discovery, set in the environment).
    /// </summary>
    public static ClusterNode Start(string hostDll, int httpPort, int akkaPort, IEnumerable<int> seedPorts, IReadOnlyDictionary<string, string> environment, string dataDirectory)
    {
        var seeds = seedPorts.Select(p => $"127.0.0.1:{p}").ToList();
        List<string> arguments = ["serve", "--cluster", "--cluster-port", akkaPort.ToString(CultureInfo.InvariantCulture), "--urls", $"http://127.0.0.1:{httpPort}"];
        if (seeds.Count > 0) arguments.AddRange(["--seed-nodes", string.Join(',', seeds)]);
        var process = ServeProcess.Start(hostDll, [.. arguments], info =>
        {
            foreach (var (key, value) in environment) info.Environment[key] = value;
            info.Environment["ActorRefresh__Storage__DataDirectory"] = dataDirectory;
            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        });
        return new ClusterNode(process, httpPort, akkaPort);
    }

    public static int FreePort() => ServeProcess.FreePort();

    /// <summary>SIGKILL: no leave, no hand-off, sockets closed by the kernel.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: the host stops, Akka leaves the cluster and hands its shards off.</summary>
    public void Terminate() => _process.Terminate();

    /// <summary>SIGSTOP: the process freezes (as in a long GC pause or a VM freeze); its sockets stay open.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT: a paused process runs on.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string name)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-" + name, _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>
    /// True for the ways a call to a node that is stopping, killed or frozen fails: refused or reset (mostly wrapped in
    /// <see cref="HttpRequestException"/>, but a socket torn down mid-request can surface as a bare
    /// <see cref="System.Net.Sockets.SocketException"/> or <see cref="IOException"/>) or not answered in time.
    /// </summary>
    public static bool IsNoAnswer(Exception e) =>
        e is HttpRequestException or TaskCanceledException or IOException or System.Net.Sockets.SocketException;

    /// <summary>Ids of the accounts whose token this node's read side serves now without asking the account (null if it does not answer).</summary>
    public async Task<IReadOnlyList<string>?> FreshTokensAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var body = await Http.GetFromJsonAsync<JsonElement>("v1/cluster/read-side", cts.Token);
            return body.GetProperty("freshTokens").EnumerateArray().Select(e => e.GetString()!).ToList();
        }
        catch (Exception e) when (IsNoAnswer(e) || e is JsonException)
        {
            return null;
        }
    }

    public Task<bool> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    public async Task<JsonElement?> ClusterAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            return await Http.GetFromJsonAsync<JsonElement>("v1/cluster", cts.Token);
        }
        catch (Exception e) when (IsNoAnswer(e) || e is JsonException)
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
