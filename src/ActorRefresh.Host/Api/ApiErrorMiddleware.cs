using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.Host.Api;

/// <summary>Turns every failure into a problem answer; unexpected ones become a bare 500 (the log has the detail, redacted).</summary>
internal sealed class ApiErrorMiddleware(RequestDelegate next, TimeProvider time, ILogger<ApiErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller went away; there is nobody to answer.
        }
        catch (Exception exception) when (!context.Response.HasStarted)
        {
            var result = Problems.ForException(exception, time.GetUtcNow());
            if (result is null)
            {
                logger.LogError(exception, "Unhandled failure answering {Method} {Path}", context.Request.Method, context.Request.Path);
                result = Problems.Create(StatusCodes.Status500InternalServerError, "Internal error",
                    "The server failed to answer; see its log.");
            }
            context.Response.Clear();
            await result.ExecuteAsync(context).ConfigureAwait(false);
        }
    }
}
