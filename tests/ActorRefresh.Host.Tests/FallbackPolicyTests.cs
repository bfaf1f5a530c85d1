using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// API keys go through ASP.NET Core authentication and authorization with a fallback policy: a route nobody declared
/// (a new endpoint someone forgot to mark) needs a key, wherever it is mapped; only routes marked public are open.
/// </summary>
public sealed class FallbackPolicyTests
{
    private static void MapUndeclared(WebApplication app)
    {
        app.MapGet("/extra", () => "extra");
        app.MapGet("/v1/extra", () => "extra");
    }

    [Theory]
    [InlineData("extra")]
    [InlineData("v1/extra")]
    public async Task An_undeclared_route_needs_the_key(string path)
    {
        await using var server = await BrokerServer.StartAsync(mapExtra: MapUndeclared);

        var refused = await server.Anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.ToString());
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);

        Assert.Equal("extra", await server.Client.GetStringAsync(path));
    }

    [Fact]
    public async Task A_path_with_no_route_needs_the_key_before_it_is_a_404()
    {
        await using var server = await BrokerServer.StartAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.GetAsync("nothing-here")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("nothing-here")).StatusCode);
    }

    [Fact]
    public async Task Keyless_on_loopback_an_undeclared_route_follows_the_local_request_rules()
    {
        await using var server = await BrokerServer.StartAsync(key: null, mapExtra: MapUndeclared);

        Assert.Equal("extra", await server.Anonymous.GetStringAsync("extra"));
        using var fromPage = new HttpRequestMessage(HttpMethod.Get, "extra");
        fromPage.Headers.Add("Sec-Fetch-Site", "cross-site");
        Assert.Equal(HttpStatusCode.Forbidden, (await server.Anonymous.SendAsync(fromPage)).StatusCode);
    }

    [Fact]
    public async Task A_public_route_answers_without_a_key_and_a_wrong_key_on_it_is_not_counted()
    {
        await using var server = await BrokerServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["ActorRefresh:Api:FailedKeyLimit"] = "2",
        });
        using var wrong = new HttpClient { BaseAddress = server.BaseAddress };
        wrong.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-the-key");

        // A probe that happens to carry a stale key is answered and does not use up the address's failures.
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await wrong.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("v1/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("v1/accounts")).StatusCode);
    }
}
