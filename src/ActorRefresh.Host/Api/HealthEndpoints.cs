using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>Liveness and readiness probes; no key needed so orchestrators can call them.</summary>
internal static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", () => TypedResults.Ok(new HealthAnswer("alive"))).Public().WithTags("Operations")
            .WithSummary("Liveness: the process answers");
        endpoints.MapGet("/readyz", ReadyAsync).Public().WithTags("Operations")
            .WithSummary("Readiness: the engine answers within ActorRefresh:Api:ReadinessTimeout")
            .Produces<HealthAnswer>().Produces<HealthAnswer>(StatusCodes.Status503ServiceUnavailable);
        return endpoints;
    }

    // Ready means the engine itself answers in time (one message, no per-account fan-out); its failure reason is not shown (probes are unauthenticated).
    private static async Task<IResult> ReadyAsync(ITokenProvider tokens, IOptions<ApiOptions> options, CancellationToken ct)
    {
        var timeout = options.Value.ReadinessTimeout;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            // WaitAsync as well: an engine that ignores the token must not hold the probe.
            await tokens.CheckReadyAsync(cts.Token).WaitAsync(timeout, ct).ConfigureAwait(false);
            return TypedResults.Ok(new HealthAnswer("ready"));
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            return TypedResults.Json(new HealthAnswer("not ready"), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}

/// <summary>The body of <c>/healthz</c> and <c>/readyz</c>.</summary>
internal sealed record HealthAnswer(string Status);
