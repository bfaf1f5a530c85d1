using System.Net;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Tests;

/// <summary>/readyz answers from the engine itself (one message to it, no per-account fan-out), not from a cache that outlives it.</summary>
public sealed class ReadinessTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-ready-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Readyz_is_503_once_the_engine_has_stopped()
    {
        var app = ActorRefreshWebHost.Build(new ServeSettings(["http://127.0.0.1:0"], ConfigOverrides: new Dictionary<string, string?>
        {
            ["ActorRefresh:Api:Key"] = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
            ["ActorRefresh:Storage:DataDirectory"] = _directory,
            ["ActorRefresh:Api:ReadinessTimeout"] = "00:00:02",
        }, LogOutput: TextWriter.Null), EngineRegistration.Add);
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/") };
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("readyz")).StatusCode);

            // The engine stops (its actor system ends) while the web host keeps running.
            await app.Services.GetRequiredService<ActorSystem>().Terminate();

            var started = DateTime.UtcNow;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("readyz")).StatusCode);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the probe is bounded by ReadinessTimeout");
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("healthz")).StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
