using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// The rules every route not marked public follows besides its key (<see cref="ApiKeyAuthenticationHandler"/>):
/// answers, errors included, are never stored by caches (tokens and account states must not stay in a browser or proxy),
/// and a request body must be JSON (<see cref="LocalRequestRules.RefusalOfBody"/>), checked once the key is.
/// </summary>
internal static class ProtectedRouteRules
{
    public static bool IsPublic(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<PublicEndpoint>() is not null;

    /// <summary>Before authentication, so that 401, 403 and 429 answers carry <c>Cache-Control: no-store</c> too.</summary>
    public static IApplicationBuilder UseNoStoreOnProtectedRoutes(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (!IsPublic(context))
            context.Response.OnStarting(static state =>
            {
                ((HttpResponse)state).Headers.CacheControl = "no-store";
                return Task.CompletedTask;
            }, context.Response);
        return next(context);
    });

    /// <summary>After authorization: a body that is not JSON is refused (415) before any handler reads it.</summary>
    public static IApplicationBuilder UseJsonBodiesOnProtectedRoutes(this IApplicationBuilder app) => app.Use((context, next) =>
        !IsPublic(context) && LocalRequestRules.RefusalOfBody(context.Request) is { } refusal
            ? Problems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", refusal).ExecuteAsync(context)
            : next(context));
}

/// <summary>
/// Failed keys per peer address: a fixed window of <see cref="ApiOptions.FailedKeyLimit"/> per
/// <see cref="ApiOptions.FailedKeyWindow"/>. A singleton so the container disposes its timer with the host.
/// </summary>
internal sealed class FailedKeyLimiter : IDisposable
{
    public FailedKeyLimiter(IOptions<ApiOptions> options)
    {
        var limit = Math.Max(1, options.Value.FailedKeyLimit);
        var window = options.Value.FailedKeyWindow > TimeSpan.Zero ? options.Value.FailedKeyWindow : TimeSpan.FromMinutes(1);
        Limiter = PartitionedRateLimiter.Create<string, string>(peer => RateLimitPartition.GetFixedWindowLimiter(peer,
            _ => new FixedWindowRateLimiterOptions { PermitLimit = limit, Window = window, QueueLimit = 0, AutoReplenishment = true }));
    }

    public PartitionedRateLimiter<string> Limiter { get; }

    public void Dispose() => Limiter.Dispose();
}
