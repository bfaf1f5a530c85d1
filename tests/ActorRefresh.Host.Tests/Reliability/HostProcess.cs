using System.Net;
using System.Net.Http.Headers;
using ActorRefresh.Testing;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// A real <c>actor-refresh serve</c> process (<c>dotnet actor-refresh.dll serve</c>) on a free loopback port, with its
/// own environment, its output captured for log scans, and a client that carries the API key.
/// </summary>
internal sealed class HostProcess : IAsyncDisposable
{
    private readonly ServeProcess _process;

    private HostProcess(ServeProcess process, Uri baseAddress, string apiKey)
    {
        _process = process;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey.Length > 0) Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }

    /// <summary>Everything the process wrote to standard output and standard error so far.</summary>
    public string Output => _process.Output;

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public int Id => _process.Id;

    /// <summary>The built host next to the test assembly (the test project references the host project).</summary>
    public static string HostDll => Path.Combine(AppContext.BaseDirectory, "actor-refresh.dll");

    /// <summary>
    /// Starts <c>serve</c> (with <paramref name="arguments"/> after <c>--urls</c>) and waits until <c>/healthz</c> answers;
    /// an empty <paramref name="apiKey"/> serves keyless, a null one sets no key variable; a null value in
    /// <paramref name="environment"/> removes the variable.
    /// </summary>
    public static async Task<HostProcess> StartAsync(string? apiKey, IReadOnlyDictionary<string, string?> environment, TimeSpan? startTimeout = null, IReadOnlyList<string>? arguments = null)
    {
        var port = ServeProcess.FreePort();
        var process = ServeProcess.Start(HostDll, ["serve", "--urls", $"http://127.0.0.1:{port}", .. arguments ?? []], start =>
        {
            start.WorkingDirectory = AppContext.BaseDirectory;
            // A clean environment for the engine's settings: nothing of the test runner's ActorRefresh settings leaks in.
            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ActorRefresh", StringComparison.OrdinalIgnoreCase)).ToList())
                start.Environment.Remove(key);
            if (apiKey is not null) start.Environment["ActorRefresh__Api__Key"] = apiKey;
            start.Environment["DOTNET_NOLOGO"] = "1";
            foreach (var (key, value) in environment)
            {
                if (value is null) start.Environment.Remove(key);
                else start.Environment[key] = value;
            }
        });
        var host = new HostProcess(process, new Uri($"http://127.0.0.1:{port}/"), apiKey ?? "");

        using var timeout = new CancellationTokenSource(startTimeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"serve exited with {process.ExitCode} before it was healthy:\n{host.Output}");
            try
            {
                using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                if ((await probe.GetAsync(new Uri(host.BaseAddress, "healthz"), timeout.Token)).StatusCode == HttpStatusCode.OK)
                    return host;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!timeout.IsCancellationRequested)
            {
            }
            await Task.Delay(100, timeout.Token);
        }
    }

    /// <summary>Waits for the process to end on its own (e.g. at a crash point).</summary>
    public Task<bool> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    /// <summary>SIGKILL, as an operator's kill -9 or the OOM killer would.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM, as systemd, Docker or Kubernetes stop a service: the host shuts down gracefully.</summary>
    public void Terminate() => _process.Terminate();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
