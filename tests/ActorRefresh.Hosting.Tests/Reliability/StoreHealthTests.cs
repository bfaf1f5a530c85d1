using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ActorRefresh.Hosting.Tests.Reliability;

/// <summary>
/// The engine's readiness checks, as a host app sees them through ASP.NET Core's <see cref="HealthCheckService"/>, against a
/// real PostgreSQL of the test's own that is stopped and started again: the store check follows the database (Akka's
/// plugin checks alone stay healthy while it is down), and a store out is Degraded, not Unhealthy.
/// </summary>
[Collection(HostCollection.Name)]
public sealed class StoreHealthTests
{
    private static async Task<IReadOnlyDictionary<string, HealthStatus>> ReadinessAsync(HostedEngine engine)
    {
        var report = await engine.Host.Services.GetRequiredService<HealthCheckService>()
            .CheckHealthAsync(r => r.Tags.Contains(ActorRefreshHealthTags.Ready));
        return report.Entries.ToDictionary(e => e.Key, e => e.Value.Status);
    }

    [PrivatePostgresFact]
    public async Task The_store_check_is_degraded_while_postgresql_is_stopped_and_healthy_once_it_is_back()
    {
        using var pg = PrivatePostgres.Create();
        pg.Start();
        await using var engine = await HostedEngine.StartAsync(extra: new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:Provider"] = "PostgreSql",
            ["ActorRefresh:Storage:ConnectionString"] = pg.ConnectionString,
        });

        Assert.Equal(HealthStatus.Healthy, (await ReadinessAsync(engine))["store"]);

        pg.Stop();
        var down = await ReadinessAsync(engine);
        Assert.Equal(HealthStatus.Degraded, down["store"]);
        Assert.DoesNotContain(HealthStatus.Unhealthy, down.Values);

        pg.Start();
        Assert.Equal(HealthStatus.Healthy, (await ReadinessAsync(engine))["store"]);
    }
}
