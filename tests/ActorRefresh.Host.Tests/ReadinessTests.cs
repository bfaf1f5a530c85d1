using System.Net;
using System.Text.Json;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// /readyz answers from the engine itself (one message to it, no per-account fan-out) and from Akka.Hosting's store checks,
/// /healthz from its actor-system check: ASP.NET Core health checks, not a cache that outlives the engine.
/// </summary>
public sealed class ReadinessTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-ready-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private WebApplication Build() => ActorRefreshWebHost.Build(new ServeSettings(["http://127.0.0.1:0"], ConfigOverrides: new Dictionary<string, string?>
    {
        ["ActorRefresh:Api:Key"] = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
        ["ActorRefresh:Storage:DataDirectory"] = _directory,
        ["ActorRefresh:Api:ReadinessTimeout"] = "00:00:02",
    }, LogOutput: TextWriter.Null), EngineRegistration.Add);

    private static async Task<(HttpStatusCode Status, string Overall, Dictionary<string, string> Checks)> ProbeAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var checks = body.TryGetProperty("checks", out var c) && c.ValueKind == JsonValueKind.Object
            ? c.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!)
            : [];
        return (response.StatusCode, body.GetProperty("status").GetString()!, checks);
    }

    [Fact]
    public async Task Probes_run_the_engine_check_and_Akka_Hosting_s_actor_system_and_store_checks()
    {
        var app = Build();
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/") };

            var ready = await ProbeAsync(client, "readyz");
            Assert.Equal((HttpStatusCode.OK, "ready"), (ready.Status, ready.Overall));
            Assert.Equal(new Dictionary<string, string> { ["engine"] = "Healthy", ["store"] = "Healthy", ["akka-journal"] = "Healthy", ["akka-snapshot-store"] = "Healthy" },
                ready.Checks);
            var alive = await ProbeAsync(client, "healthz");
            Assert.Equal((HttpStatusCode.OK, "alive"), (alive.Status, alive.Overall));
            Assert.Equal(new Dictionary<string, string> { ["akka.actorsystem"] = "Healthy" }, alive.Checks);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_store_that_cannot_be_opened_makes_readyz_degraded_but_still_200()
    {
        var app = Build();
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/") };
            Assert.Equal("ready", (await ProbeAsync(client, "readyz")).Overall);

            // The database file becomes something SQLite cannot open. Tokens in memory are still served through a store
            // outage (docs/reliability.md), so the node keeps its traffic: degraded, not unready.
            var file = Path.Combine(_directory, "actor-refresh.db");
            File.Delete(file);
            Directory.CreateDirectory(file);

            var ready = await ProbeAsync(client, "readyz");
            Assert.Equal((HttpStatusCode.OK, "degraded"), (ready.Status, ready.Overall));
            Assert.Equal("Degraded", ready.Checks["store"]);
            Assert.Equal("Healthy", ready.Checks["engine"]);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Once_the_actor_system_has_stopped_readyz_and_healthz_are_503_within_the_timeout()
    {
        var app = Build();
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/") };
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("readyz")).StatusCode);

            // The engine stops (its actor system ends) while the web host keeps running: not ready, and not alive either,
            // so an orchestrator restarts the process instead of keeping a broker that can no longer refresh.
            await app.Services.GetRequiredService<ActorSystem>().Terminate();

            var started = DateTime.UtcNow;
            var ready = await ProbeAsync(client, "readyz");
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the probe is bounded by ReadinessTimeout");
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "not ready"), (ready.Status, ready.Overall));
            var alive = await ProbeAsync(client, "healthz");
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "not alive"), (alive.Status, alive.Overall));
            Assert.Equal("Unhealthy", alive.Checks["akka.actorsystem"]);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
