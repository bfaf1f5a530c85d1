using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Turns every failure into a problem answer (<see cref="Problems.ForException"/>); an unexpected one becomes a bare
/// 500 whose log line (redacted) carries the trace id the answer shows. Registered with <c>AddExceptionHandler</c>.
/// </summary>
internal sealed class ApiExceptionHandler(TimeProvider time, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        // The caller went away; there is nobody to answer.
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
            return true;
        var result = Problems.ForException(exception, time.GetUtcNow());
        if (result is null)
        {
            logger.LogError(exception, "Unhandled failure answering {Method} {Path} (trace {TraceId})",
                httpContext.Request.Method, httpContext.Request.Path, TraceIdOf(httpContext));
            result = Problems.Create(StatusCodes.Status500InternalServerError, "Internal error",
                "The server failed to answer; see its log.");
        }
        await result.ExecuteAsync(httpContext).ConfigureAwait(false);
        return true;
    }

    /// <summary>What problem answers show as <c>traceId</c>: the request's activity (W3C trace context), else its connection-level id.</summary>
    public static string TraceIdOf(HttpContext httpContext) => Activity.Current?.Id ?? httpContext.TraceIdentifier;
}
