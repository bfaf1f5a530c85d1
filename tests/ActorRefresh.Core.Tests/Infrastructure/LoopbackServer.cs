using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.Core.Tests.Infrastructure;

/// <summary>What the server saw of one request.</summary>
public sealed record RecordedRequest(string Method, string Path, string? ContentType, string Body, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// A real Kestrel server on 127.0.0.1 with an OS-chosen port. Each test scripts its behaviour with
/// <see cref="Handle"/>; every request is recorded for server-side assertions.
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private Func<HttpContext, Task> _handler = ctx => { ctx.Response.StatusCode = 500; return Task.CompletedTask; };

    private LoopbackServer(WebApplication app) => _app = app;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public Uri BaseAddress { get; private set; } = null!;

    public Uri TokenEndpoint => new(BaseAddress, "/v1/oauth/token");

    public static async Task<LoopbackServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new LoopbackServer(app);
        app.Run(server.ServeAsync);
        await app.StartAsync();
        server.BaseAddress = new Uri(app.Urls.First());
        return server;
    }

    public void Handle(Func<HttpContext, Task> handler) => _handler = handler;

    /// <summary>Answers every request with <paramref name="status"/>, <paramref name="body"/> and optional headers.</summary>
    public void Reply(int status, string body, string contentType = "application/json", params (string Name, string Value)[] headers) =>
        Handle(async ctx =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = contentType;
            foreach (var (name, value) in headers)
                ctx.Response.Headers.Append(name, value);
            await ctx.Response.WriteAsync(body);
        });

    public RecordedRequest Single() => Assert.Single(Requests);

    private async Task ServeAsync(HttpContext ctx)
    {
        using var reader = new StreamReader(ctx.Request.Body);
        var body = await reader.ReadToEndAsync(ctx.RequestAborted);
        var headers = ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        Requests.Enqueue(new RecordedRequest(ctx.Request.Method, ctx.Request.Path, ctx.Request.ContentType, body, headers));
        await _handler(ctx);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
