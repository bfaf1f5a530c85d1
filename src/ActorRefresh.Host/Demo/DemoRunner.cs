using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Logging;
using ActorRefresh.Hosting;
using ActorRefresh.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Spectre.Console;

namespace ActorRefresh.Host.Demo;

/// <summary>What <c>demo</c> was asked for.</summary>
internal sealed record DemoOptions(int Accounts = 50, int Callers = 2000, TimeSpan? Duration = null, bool Json = false, LogFormat LogFormat = LogFormat.Text)
{
    public TimeSpan RunFor => Duration ?? TimeSpan.FromSeconds(5);
}

/// <summary>The demo's summary; printed as one JSON line with <c>--json</c>.</summary>
internal sealed record DemoReport(
    int Accounts,
    long Requests,
    long Served,
    IReadOnlyDictionary<string, long> Failed,
    int UpstreamRefreshCalls,
    int OverlappingRefreshes,
    int RefreshTokenReuse,
    int CallsDuringBackoff,
    IReadOnlyDictionary<string, int> States,
    IReadOnlyDictionary<string, int> LastErrors,
    long P50Micros,
    long P99Micros,
    double Seconds)
{
    /// <summary>Every token the fake server issued, for leak scans in tests. Never printed.</summary>
    [JsonIgnore]
    public IReadOnlyCollection<string> IssuedTokens { get; init; } = [];

    [JsonIgnore]
    public bool InvariantsHold => OverlappingRefreshes == 0 && RefreshTokenReuse == 0 && CallsDuringBackoff == 0;
}

/// <summary>
/// Runs the real engine (SQLite in a temp folder, real HTTP) against the fake token server with short token
/// lifetimes and scripted faults, under many concurrent callers, and reports what the callers and the
/// token endpoint saw.
/// </summary>
internal static class DemoRunner
{
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromSeconds(12);

    public static async Task<DemoReport> RunAsync(DemoOptions options, TextWriter logOutput, IAnsiConsole console, CancellationToken cancellationToken)
    {
        if (options.Accounts < 1) throw new ArgumentOutOfRangeException(nameof(options), "--accounts must be at least 1");
        if (options.Callers < 1) throw new ArgumentOutOfRangeException(nameof(options), "--callers must be at least 1");

        var dataDirectory = Path.Combine(Path.GetTempPath(), "actor-refresh-demo-" + Guid.NewGuid().ToString("N"));
        await using var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { AccessTokenLifetime = TokenLifetime }, cancellationToken);
        var liveTable = !options.Json && console.Profile.Capabilities.Interactive;
        // Log lines written while the live table redraws would tear it: they are held and shown under it.
        using var heldLog = new HeldLogWriter(logOutput);
        using var host = BuildEngine(server, dataDirectory, options.LogFormat, liveTable ? heldLog : logOutput);
        await host.StartAsync(cancellationToken);
        try
        {
            var tokens = host.Services.GetRequiredService<ITokenProvider>();
            var admin = host.Services.GetRequiredService<IAccountAdmin>();
            var ids = await RegisterAccountsAsync(admin, server, options.Accounts, cancellationToken);

            var run = new CallerRun(tokens, ids, options.Callers);
            var stopwatch = Stopwatch.StartNew();
            var callers = run.StartAsync(options.RunFor, cancellationToken);
            if (liveTable)
            {
                try
                {
                    await ShowLiveTableAsync(console, admin, callers, cancellationToken);
                }
                finally
                {
                    heldLog.Release();
                }
            }
            await callers;
            stopwatch.Stop();

            var statuses = await admin.ListAsync(cancellationToken);
            return new DemoReport(
                options.Accounts,
                run.Requests,
                run.Served,
                run.Failures,
                server.TotalRefreshCalls,
                server.OverlappingRefreshes,
                server.RefreshTokenReuse,
                server.CallsDuringBackoff,
                Enum.GetValues<AccountState>().ToDictionary(s => s.ToString(), s => statuses.Count(a => a.State == s)),
                statuses.Where(s => s.LastErrorClass is not null).GroupBy(s => s.LastErrorClass!).ToDictionary(g => g.Key, g => g.Count()),
                run.Latency.Quantile(0.50),
                run.Latency.Quantile(0.99),
                Math.Round(stopwatch.Elapsed.TotalSeconds, 2))
            { IssuedTokens = server.IssuedTokens };
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
            try { Directory.Delete(dataDirectory, recursive: true); } catch (IOException) { }
        }
    }

    public static void WriteSummary(IAnsiConsole console, DemoReport report)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("ActorRefresh demo").AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, object value) => table.AddRow(Markup.Escape(name), Markup.Escape(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""));
        Row("accounts", report.Accounts);
        Row("requests", report.Requests);
        Row("served", report.Served);
        foreach (var (reason, count) in report.Failed) Row("failed: " + reason, count);
        Row("upstream refresh calls", report.UpstreamRefreshCalls);
        Row("overlapping refreshes", report.OverlappingRefreshes);
        Row("refresh token reuse", report.RefreshTokenReuse);
        Row("calls during backoff", report.CallsDuringBackoff);
        foreach (var (state, count) in report.States) Row("state: " + state, count);
        foreach (var (error, count) in report.LastErrors) Row("last error: " + error, count);
        Row("p50 latency (µs)", report.P50Micros);
        Row("p99 latency (µs)", report.P99Micros);
        console.Write(table);
    }

    public static string ToJson(DemoReport report) => JsonSerializer.Serialize(report, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase });

    private static IHost BuildEngine(FakeTokenServer server, string dataDirectory, LogFormat format, TextWriter logOutput)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = dataDirectory,
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:claude:UsageEndpoint"] = server.UsageEndpoint.ToString(),
            // Lifetimes of seconds instead of hours: the same rules, compressed.
            ["ActorRefresh:Engine:RefreshLead"] = "00:00:04",
            ["ActorRefresh:Engine:RefreshJitter"] = "00:00:01",
            ["ActorRefresh:Engine:MinimumValidity"] = "00:00:01",
            ["ActorRefresh:Engine:MaxConcurrentRefreshes"] = "4",
            ["ActorRefresh:Engine:MaxRefreshesPerSecond"] = "100",
            ["ActorRefresh:Backoff:Base"] = "00:00:00.500",
            ["ActorRefresh:Backoff:Cap"] = "00:00:05",
            ["Serilog:MinimumLevel:Default"] = "Information",
            ["Serilog:MinimumLevel:Override:Microsoft"] = "Warning",
            ["Serilog:MinimumLevel:Override:System.Net.Http.HttpClient"] = "Warning",
        });
        var logger = LoggingSetup.CreateLogger(builder.Configuration, format, logOutput);
        builder.Services.AddSerilog(logger, dispose: true);
        builder.Services.AddActorRefresh(builder.Configuration);
        return builder.Build();
    }

    /// <summary>
    /// Registers the accounts with expiries spread over the first seconds, so refreshes happen during the run,
    /// and scripts the faults: a 429 burst with Retry-After, one CDN 403, one organisation-policy 403, one invalid_grant.
    /// </summary>
    private static async Task<string[]> RegisterAccountsAsync(IAccountAdmin admin, FakeTokenServer server, int count, CancellationToken cancellationToken)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"demo-{i:D4}").ToArray();
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < ids.Length; i++)
        {
            var issued = server.CreateAccount(ids[i]);
            // Scripted before registration: the fault accounts refresh as soon as they are registered.
            if (FaultFor(i) is { } fault) server.Script(ids[i], fault);
            // Fault accounts reach their refresh point at once; the others spread over the next seconds.
            var expiresAt = i < 6 ? now.AddSeconds(4.5) : now.AddSeconds(5 + 6.0 * i / count);
            await admin.RegisterAsync(new AccountCredentials(ids[i], "claude", new Secret(issued.RefreshToken), new Secret(issued.AccessToken), expiresAt), cancellationToken);
        }
        return ids;
    }

    private static FakeFault? FaultFor(int index) => index switch
    {
        < 3 => FakeFault.RateLimited(TimeSpan.FromSeconds(60)),
        3 => FakeFault.CdnForbidden,
        4 => FakeFault.PolicyForbidden(),
        5 => FakeFault.InvalidGrant(),
        _ => null,
    };

    private static async Task ShowLiveTableAsync(IAnsiConsole console, IAccountAdmin admin, Task callers, CancellationToken cancellationToken)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("state").AddColumn(new TableColumn("accounts").RightAligned());
        await console.Live(table).StartAsync(async context =>
        {
            while (!callers.IsCompleted)
            {
                var statuses = await admin.ListAsync(cancellationToken);
                table.Rows.Clear();
                foreach (var state in Enum.GetValues<AccountState>())
                    table.AddRow(state.ToString(), statuses.Count(s => s.State == state).ToString(System.Globalization.CultureInfo.InvariantCulture));
                context.Refresh();
                await Task.WhenAny(callers, Task.Delay(250, cancellationToken));
            }
        });
    }

    /// <summary>M concurrent callers asking for random accounts' tokens until the deadline.</summary>
    private sealed class CallerRun(ITokenProvider tokens, string[] ids, int callers)
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, long> _failures = new(StringComparer.Ordinal);
        private long _requests;
        private long _served;

        public LatencyHistogram Latency { get; } = new();
        public long Requests => Interlocked.Read(ref _requests);
        public long Served => Interlocked.Read(ref _served);

        public IReadOnlyDictionary<string, long> Failures
        {
            get
            {
                lock (_gate) return new Dictionary<string, long>(_failures);
            }
        }

        public Task StartAsync(TimeSpan duration, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            return Task.WhenAll(Enumerable.Range(0, callers).Select(seed => Task.Run(() => CallerAsync(seed, deadline, cancellationToken), cancellationToken)));
        }

        private async Task CallerAsync(int seed, long deadline, CancellationToken cancellationToken)
        {
            var random = new Random(seed);
            var histogram = new LatencyHistogram();
            var failures = new Dictionary<string, long>(StringComparer.Ordinal);
            long requests = 0, served = 0;
            while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
            {
                var id = ids[random.Next(ids.Length)];
                var started = Stopwatch.GetTimestamp();
                var reason = await AskAsync(id, cancellationToken);
                histogram.Record((Stopwatch.GetTimestamp() - started) * 1_000_000 / Stopwatch.Frequency);
                requests++;
                if (reason is null) served++;
                else failures[reason] = failures.GetValueOrDefault(reason) + 1;
                // Fast-path answers complete synchronously: yield now and then so every caller gets the CPU.
                if ((requests & 7) == 0) await Task.Yield();
            }
            Interlocked.Add(ref _requests, requests);
            Interlocked.Add(ref _served, served);
            lock (_gate)
            {
                Latency.Merge(histogram);
                foreach (var (reason, count) in failures) _failures[reason] = _failures.GetValueOrDefault(reason) + count;
            }
        }

        private async ValueTask<string?> AskAsync(string id, CancellationToken cancellationToken)
        {
            try
            {
                await tokens.GetTokenAsync(id, cancellationToken);
                return null;
            }
            catch (TokenBackingOffException) { return "backing_off"; }
            catch (AccountBlockedException) { return "blocked"; }
            catch (AccountNotFoundException) { return "not_found"; }
            catch (EngineUnavailableException) { return "unavailable"; }
        }
    }
}
