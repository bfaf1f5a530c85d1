using System.Net.Http.Headers;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Host.Tests;

/// <summary>The real host composition on 127.0.0.1:0 with <see cref="InMemoryTokenProvider"/> as the engine (and the core services: provider profiles, login clients).</summary>
internal sealed class BrokerServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BrokerServer(WebApplication app, InMemoryTokenProvider tokens, FakeTimeProvider time, LogBuffer log, string? key)
    {
        _app = app;
        Tokens = tokens;
        Time = time;
        Log = log;
        Key = key;
        BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/");
        Client = new HttpClient { BaseAddress = BaseAddress };
        if (key is not null)
            Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Anonymous = new HttpClient { BaseAddress = BaseAddress };
    }

    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public InMemoryTokenProvider Tokens { get; }
    public FakeTimeProvider Time { get; }
    public LogBuffer Log { get; }
    public string? Key { get; }
    public Uri BaseAddress { get; }

    /// <summary>The application's services (its endpoints, options).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Sends the API key when there is one.</summary>
    public HttpClient Client { get; }

    /// <summary>Sends no Authorization header.</summary>
    public HttpClient Anonymous { get; }

    /// <param name="mapExtra">Maps routes of the test's own before the server starts (what a future endpoint would be).</param>
    public static async Task<BrokerServer> StartAsync(string? key = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH", Dictionary<string, string?>? settings = null,
        FakeTimeProvider? clock = null, Action<WebApplication>? mapExtra = null, string url = "http://127.0.0.1:0")
    {
        var time = clock ?? new FakeTimeProvider(Now);
        var tokens = new InMemoryTokenProvider(time);
        var log = new LogBuffer();
        var overrides = new Dictionary<string, string?>
        {
            ["ActorRefresh:Api:Key"] = key ?? "",
            ["Serilog:MinimumLevel:Default"] = "Information",
            // Tests send many wrong keys from one address on purpose; the throttle test sets its own limit.
            ["ActorRefresh:Api:FailedKeyLimit"] = "100000",
            // Each server its own data folder (the default is the user's, shared by every test).
            ["ActorRefresh:Storage:DataDirectory"] = Path.Combine(Path.GetTempPath(), "actorrefresh-broker-" + Guid.NewGuid().ToString("N")),
        };
        foreach (var (k, v) in settings ?? [])
            overrides[k] = v;
        var app = ActorRefreshWebHost.Build(
            new ServeSettings([url], ConfigOverrides: overrides, LogOutput: log.Writer),
            (services, configuration) =>
            {
                // Provider profiles and the login clients, as the engine's registration brings them.
                services.AddActorRefreshCore(configuration);
                services.AddSingleton<ITokenProvider>(tokens);
                services.AddSingleton<IAccountAdmin>(tokens);
                services.AddSingleton<IAccountPools>(tokens);
                services.AddSingleton<TimeProvider>(time);
            });
        mapExtra?.Invoke(app);
        await app.StartAsync();
        return new BrokerServer(app, tokens, time, log, key);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Anonymous.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
