using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ActorRefresh.Testing;

/// <summary>
/// A real <c>dotnet actor-refresh.dll</c> process with standard output and standard error captured, and the ways a test
/// or a benchmark ends it. Compiled into the Host tests (crash points, cluster nodes) and the benchmarks (failover);
/// each user keeps its own arguments, environment and way of stopping.
/// </summary>
internal sealed class ServeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServeProcess(Process process)
    {
        _process = process;
    }

    /// <summary>Everything the process wrote to standard output and standard error so far.</summary>
    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>
    /// Whether the process has ended; when it has, its output has been read to the end. The asynchronous readers can still
    /// be behind at the moment of exit, and a test that reported a refusal from <see cref="Output"/> then missed the
    /// process's last lines, the ones that say why it stopped.
    /// </summary>
    public bool HasExited
    {
        get
        {
            if (!_process.HasExited) return false;
            _process.WaitForExit(); // without a timeout it also waits for both redirected streams to reach their end
            return true;
        }
    }
    public int ExitCode => _process.ExitCode;
    public int Id => _process.Id;

    /// <summary>Starts <c>dotnet <paramref name="hostDll"/> <paramref name="arguments"/></c>; <paramref name="configure"/> sets the environment or working directory first.</summary>
    public static ServeProcess Start(string hostDll, IEnumerable<string> arguments, Action<ProcessStartInfo> configure)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(hostDll);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        configure(start);

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var serve = new ServeProcess(process);
        process.OutputDataReceived += (_, e) => serve.Append(e.Data);
        process.ErrorDataReceived += (_, e) => serve.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return serve;
    }

    /// <summary>
    /// A loopback port free right now, for a process to bind a moment later. Taken below the kernel's ephemeral range
    /// (32768 and up on Linux), where the suite's many outgoing connections and port-0 listeners get their ports: a port
    /// the kernel hands out would be free again here and could be taken by one of them before the process binds it, and a
    /// health check would then reach another test's server. A port is handed out once per test process: tests run in
    /// parallel, and two of them drawing the same free port before either process bound it made one fail with "address
    /// already in use".
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            lock (HandedOut)
            {
                if (!HandedOut.Add(port)) continue;
            }
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken: try another.
            }
        }
        throw new InvalidOperationException("no free loopback port between 20000 and 32000");
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>SIGKILL, as an operator's kill -9 or the OOM killer would: no leave, no hand-off, sockets closed by the kernel.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
    }

    /// <summary>SIGTERM: the host stops gracefully.</summary>
    public void Terminate()
    {
        if (_process.HasExited) return;
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Waits for the process to end; false when it is still running after <paramref name="timeout"/>.</summary>
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

    public void Dispose() => _process.Dispose();

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }
}
