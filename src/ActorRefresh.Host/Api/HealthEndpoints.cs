using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Liveness and readiness probes over ASP.NET Core's health checks: <c>/healthz</c> runs the checks tagged
/// <see cref="ActorRefreshHealthTags.Live"/> (Akka.Hosting's actor-system check), <c>/readyz</c> those tagged
/// <see cref="ActorRefreshHealthTags.Ready"/> (the engine answers, journal and snapshot store, cluster membership in
/// cluster mode). No key needed so orchestrators can call them; answers name each check and its status, never a reason.
/// </summary>
internal static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", (HealthCheckService checks, IOptions<ApiOptions> options, CancellationToken ct) =>
                ProbeAsync(checks, ActorRefreshHealthTags.Live, "alive", "not alive", options.Value.ReadinessTimeout, ct))
            .Public().WithTags("Operations")
            .WithSummary("Liveness: the process and its actor system run")
            .Produces<HealthAnswer>().Produces<HealthAnswer>(StatusCodes.Status503ServiceUnavailable);
        endpoints.MapGet("/readyz", (HealthCheckService checks, IOptions<ApiOptions> options, CancellationToken ct) =>
                ProbeAsync(checks, ActorRefreshHealthTags.Ready, "ready", "not ready", options.Value.ReadinessTimeout, ct))
            .Public().WithTags("Operations")
            .WithSummary("Readiness: the engine answers within ActorRefresh:Api:ReadinessTimeout; journal, snapshot store and cluster membership report healthy (a store out is 'degraded', still 200: tokens are served from memory)")
            .Produces<HealthAnswer>().Produces<HealthAnswer>(StatusCodes.Status503ServiceUnavailable);
        return endpoints;
    }

    private static async Task<IResult> ProbeAsync(HealthCheckService checks, string tag, string up, string down, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        HealthReport report;
        try
        {
            report = await checks.CheckHealthAsync(r => r.Tags.Contains(tag), cts.Token).WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            // A check that ignores its token must not hold the probe.
            return TypedResults.Json(new HealthAnswer(down, null), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        var entries = report.Entries.ToDictionary(e => e.Key, e => e.Value.Status.ToString(), StringComparer.Ordinal);
        return report.Status switch
        {
            HealthStatus.Healthy => TypedResults.Ok(new HealthAnswer(up, entries)),
            HealthStatus.Degraded => TypedResults.Ok(new HealthAnswer("degraded", entries)),
            _ => TypedResults.Json(new HealthAnswer(down, entries), statusCode: StatusCodes.Status503ServiceUnavailable),
        };
    }
}

/// <summary>Readiness check: the engine itself answers (one message, no per-account fan-out).</summary>
internal sealed class EngineReadinessCheck(IAccountAdmin accounts) : IHealthCheck
{
    public const string Name = "engine";

    // A failure or the registration's timeout is the health check service's to report (Unhealthy); WaitAsync as well,
    // because an engine that ignores the token must not hold the check.
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await accounts.CheckReadyAsync(cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        return HealthCheckResult.Healthy();
    }
}

/// <summary>The body of <c>/healthz</c> and <c>/readyz</c>: overall status and each check's status by name.</summary>
internal sealed record HealthAnswer(string Status, IReadOnlyDictionary<string, string>? Checks);
