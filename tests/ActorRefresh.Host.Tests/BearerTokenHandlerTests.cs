using System.Collections.Concurrent;
using System.Net;
using System.Text;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Host.Tests;

public sealed class BearerTokenHandlerTests
{
    private const string First = "sk-ant-oat01-first";

    /// <summary>A loopback API that refuses the tokens in <paramref name="refused"/> and echoes the body otherwise.</summary>
    private static async Task<(WebApplication App, ConcurrentQueue<(string? Auth, string Body)> Seen)> StartApiAsync(Func<string?, bool> refused)
    {
        var seen = new ConcurrentQueue<(string? Auth, string Body)>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/echo", async (HttpRequest request) =>
        {
            var auth = request.Headers.Authorization.ToString();
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync();
            seen.Enqueue((auth, body));
            return refused(auth) ? Results.StatusCode(401) : Results.Text("echo:" + body);
        });
        await app.StartAsync();
        return (app, seen);
    }

    private static async Task<(ServiceProvider Services, InMemoryTokenProvider Tokens)> ClientAsync(Uri api)
    {
        var tokens = new InMemoryTokenProvider(new FakeTimeProvider(DateTimeOffset.UtcNow));
        await tokens.RegisterAsync(new AccountCredentials("acct", "claude", new Secret("sk-ant-ort01-r"),
            new Secret(First), DateTimeOffset.UtcNow.AddHours(1)));
        var services = new ServiceCollection();
        services.AddSingleton<ITokenProvider>(tokens);
        services.AddHttpClient("api", c => c.BaseAddress = api).AddActorRefreshBearerToken("acct");
        return (services.BuildServiceProvider(), tokens);
    }

    [Fact]
    public async Task A_401_reports_the_sent_token_and_retries_once_with_a_fresh_one_resending_the_body()
    {
        var (app, seen) = await StartApiAsync(auth => auth == "Bearer " + First);
        await using var _ = app;
        var (services, tokens) = await ClientAsync(new Uri(app.Urls.First()));
        await using var __ = services;

        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        var response = await client.PostAsync("/echo", new StringContent("""{"prompt":"hi"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""echo:{"prompt":"hi"}""", await response.Content.ReadAsStringAsync());
        var calls = seen.ToArray();
        Assert.Equal(2, calls.Length);
        Assert.Equal("Bearer " + First, calls[0].Auth);
        Assert.StartsWith("Bearer sk-ant-oat01-minted", calls[1].Auth, StringComparison.Ordinal);
        Assert.Equal(calls[0].Body, calls[1].Body);
        Assert.Equal(("acct", First), tokens.RejectedReports.Single());
    }

    [Fact]
    public async Task Retries_only_once_when_the_fresh_token_is_refused_too()
    {
        var (app, seen) = await StartApiAsync(_ => true);
        await using var _ = app;
        var (services, tokens) = await ClientAsync(new Uri(app.Urls.First()));
        await using var __ = services;

        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        var response = await client.PostAsync("/echo", new StringContent("body"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, seen.Count);
        Assert.Single(tokens.RejectedReports);
    }

    [Fact]
    public async Task A_success_sends_the_token_once_and_reports_nothing()
    {
        var (app, seen) = await StartApiAsync(_ => false);
        await using var _ = app;
        var (services, tokens) = await ClientAsync(new Uri(app.Urls.First()));
        await using var __ = services;

        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/echo", new StringContent("x"))).StatusCode);
        Assert.Equal("Bearer " + First, seen.Single().Auth);
        Assert.Empty(tokens.RejectedReports);
    }

    [Fact]
    public async Task Provider_failures_reach_the_caller_unchanged()
    {
        var (app, seen) = await StartApiAsync(_ => false);
        await using var _ = app;
        var (services, tokens) = await ClientAsync(new Uri(app.Urls.First()));
        await using var __ = services;
        await tokens.BlockAsync("acct", "policy");

        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        await Assert.ThrowsAsync<AccountBlockedException>(() => client.PostAsync("/echo", new StringContent("x")));
        Assert.Empty(seen);
    }
}
