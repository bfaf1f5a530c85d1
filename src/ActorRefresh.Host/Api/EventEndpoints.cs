using System.Text.Json;
using ActorRefresh.Hosting.Notifications;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Api;

/// <summary>
/// <c>GET /v1/events</c>: the account notices of this node as server-sent events (<c>event: account.blocked</c>,
/// <c>data: {…}</c>), for dashboards and scripts; behind the API key like every <c>/v1</c> route. The same notices the
/// webhooks get, never a token.
/// </summary>
internal static class EventEndpoints
{
    public static IEndpointRouteBuilder MapEventStream(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/events", StreamAsync).RequireScope(ApiScopes.Read).WithTags("Accounts")
            .WithSummary("Account notices as server-sent events (one event per notice, named by its kind)")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").Problems(404);
        return endpoints;
    }

    // The cancellation token (the request's) makes this a route handler, so its metadata reaches the OpenAPI document.
    private static async Task StreamAsync(HttpContext context, CancellationToken ct)
    {
        if (context.RequestServices.GetService<IAccountNotices>() is not { } notices)
        {
            await Problems.Create(StatusCodes.Status404NotFound, "No notices", "This server's engine raises no account notices.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var subscription = notices.SubscribeAsync(ct);
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-store";
        // A comment first: the client sees the stream open once the subscription exists.
        await context.Response.WriteAsync(": subscribed\n\n", ct).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(ct).ConfigureAwait(false);
        try
        {
            await foreach (var notice in subscription.ConfigureAwait(false))
            {
                var data = JsonSerializer.Serialize(notice, WebhookSender.Json);
                await context.Response.WriteAsync($"event: {notice.Kind}\ndata: {data}\n\n", ct).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
    }
}
