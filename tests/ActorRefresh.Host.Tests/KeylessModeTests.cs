using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// Keyless mode answers only what can only come from a program on this machine: loopback peer, a loopback Host
/// (DNS rebinding), no cross-site Origin or Sec-Fetch-Site (a web page the operator visits), and JSON bodies
/// (a no-cors text/plain or form POST). Every refusal goes over real HTTP to the web host on loopback.
/// </summary>
public sealed class KeylessModeTests
{
    private const string Access = "sk-ant-oat01-KEYLESS-ACCESS";

    private static async Task<BrokerServer> StartKeylessAsync()
    {
        var server = await BrokerServer.StartAsync(key: null);
        await server.Tokens.RegisterAsync(new AccountCredentials("victim", "claude", new Secret("sk-ant-ort01-KEYLESS-REFRESH"),
            new Secret(Access), BrokerServer.Now.AddHours(1)));
        return server;
    }

    private static async Task<JsonElement> RefusedAsync(HttpResponseMessage response, int status, string reasonPart)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain(Access, body, StringComparison.Ordinal);
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Contains(reasonPart, json.GetProperty("reason").GetString(), StringComparison.Ordinal);
        return json;
    }

    private static HttpRequestMessage TokenRequest() => new(HttpMethod.Get, "v1/accounts/victim/token");

    private static HttpRequestMessage BlockRequest(HttpContent content) =>
        new(HttpMethod.Post, "v1/accounts/victim/block") { Content = content };

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Theory]
    [InlineData("attacker.example")]
    [InlineData("attacker.example:5080")]
    [InlineData("localhost.attacker.example")]
    [InlineData("127.0.0.1.nip.io:5080")]
    [InlineData("10.0.0.5:5080")]
    public async Task A_rebound_name_in_the_Host_header_is_refused(string host)
    {
        await using var server = await StartKeylessAsync();
        using var request = TokenRequest();
        request.Headers.Host = host;
        await RefusedAsync(await server.Anonymous.SendAsync(request), 403, "Host");
        using var page = new HttpRequestMessage(HttpMethod.Get, "");
        page.Headers.Host = host;
        await RefusedAsync(await server.Anonymous.SendAsync(page), 403, "Host");
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    [InlineData("[::1]")]
    public async Task Loopback_names_in_the_Host_header_are_accepted_with_and_without_a_port(string name)
    {
        await using var server = await StartKeylessAsync();
        foreach (var host in new[] { name, $"{name}:{server.BaseAddress.Port}" })
        {
            using var request = TokenRequest();
            request.Headers.Host = host;
            var response = await server.Anonymous.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Theory]
    [InlineData("https://attacker.example")]
    [InlineData("null")]
    [InlineData("http://localhost:3000")]
    public async Task A_cross_origin_request_is_refused_and_changes_nothing(string origin)
    {
        await using var server = await StartKeylessAsync();
        using var read = TokenRequest();
        read.Headers.Add("Origin", origin);
        await RefusedAsync(await server.Anonymous.SendAsync(read), 403, "Origin");

        using var block = BlockRequest(Json("""{"reason":"attacker"}"""));
        block.Headers.Add("Origin", origin);
        await RefusedAsync(await server.Anonymous.SendAsync(block), 403, "Origin");
        Assert.Equal(AccountState.Valid, (await server.Tokens.GetStatusAsync("victim")).State);
    }

    [Theory]
    [InlineData("cross-site")]
    [InlineData("same-site")]
    public async Task A_browser_saying_the_request_comes_from_another_site_is_refused(string site)
    {
        await using var server = await StartKeylessAsync();
        using var request = TokenRequest();
        request.Headers.Add("Sec-Fetch-Site", site);
        await RefusedAsync(await server.Anonymous.SendAsync(request), 403, "Sec-Fetch-Site");
    }

    [Fact]
    public async Task The_operators_own_browser_on_the_status_page_is_accepted()
    {
        await using var server = await StartKeylessAsync();
        // Typing the address (Sec-Fetch-Site: none) and a same-origin request from the page itself.
        using var typed = new HttpRequestMessage(HttpMethod.Get, "");
        typed.Headers.Add("Sec-Fetch-Site", "none");
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.SendAsync(typed)).StatusCode);

        using var sameOrigin = TokenRequest();
        sameOrigin.Headers.Add("Sec-Fetch-Site", "same-origin");
        sameOrigin.Headers.Add("Origin", $"http://127.0.0.1:{server.BaseAddress.Port}");
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.SendAsync(sameOrigin)).StatusCode);
    }

    public static TheoryData<string, string> NotJson => new()
    {
        { "text/plain", """{"reason":"attacker"}""" },
        { "text/plain;charset=UTF-8", """{"reason":"attacker"}""" },
        { "application/x-www-form-urlencoded", "reason=attacker" },
        { "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\nattacker\r\n--x--\r\n" },
    };

    [Theory]
    [MemberData(nameof(NotJson))]
    public async Task A_post_body_that_is_not_json_is_refused_with_415_and_changes_nothing(string contentType, string body)
    {
        await using var server = await StartKeylessAsync();
        var content = new StringContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        using var request = BlockRequest(content);
        await RefusedAsync(await server.Anonymous.SendAsync(request), 415, "application/json");
        Assert.Equal(AccountState.Valid, (await server.Tokens.GetStatusAsync("victim")).State);

        // An import (the account swap of the issue) sent as a no-cors text/plain POST.
        var import = new StringContent("""{"claudeAiOauth":{"accessToken":"a","refreshToken":"attacker-rt","expiresAt":1}}""");
        import.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        await RefusedAsync(await server.Anonymous.PostAsync("v1/import/claude?id=victim", import), 415, "application/json");
        Assert.Equal("sk-ant-ort01-KEYLESS-REFRESH", server.Tokens.CredentialsOf("victim")!.RefreshToken!.Reveal());
    }

    [Fact]
    public async Task A_body_without_a_content_type_is_refused_and_a_post_without_a_body_is_accepted()
    {
        await using var server = await StartKeylessAsync();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"reason":"attacker"}"""));
        using var request = BlockRequest(content);
        await RefusedAsync(await server.Anonymous.SendAsync(request), 415, "application/json");

        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.PostAsync("v1/accounts/victim/refresh", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.SendAsync(BlockRequest(Json("""{"reason":"operator"}""")))).StatusCode);
    }

    [Fact]
    public async Task With_a_key_a_post_body_must_be_json_too()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("victim", "claude", new Secret("rt"), null, null));
        var content = new StringContent("""{"reason":"x"}""");
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("text/plain");
        await RefusedAsync(await server.Client.SendAsync(BlockRequest(content)), 415, "application/json");
        // A key holder behind a reverse proxy may use any Host name: the key is the proof, not the name.
        using var proxied = new HttpRequestMessage(HttpMethod.Get, "v1/accounts");
        proxied.Headers.Host = "broker.internal.example";
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(proxied)).StatusCode);
    }

    [Fact]
    public async Task A_peer_that_is_not_loopback_is_refused_without_a_key()
    {
        // Kestrel is bound to loopback in keyless mode, so a foreign peer can only come through something in front of
        // it; the server's own authentication scheme is run directly with a forged connection to show the refusal.
        await using var server = await BrokerServer.StartAsync(key: null);
        var context = new DefaultHttpContext { RequestServices = server.Services };
        context.Request.Method = "GET";
        context.Request.Path = "/v1/accounts";
        context.Request.Host = new HostString("127.0.0.1", 5080);
        context.Connection.RemoteIpAddress = IPAddress.Parse("192.168.1.20");
        context.Response.Body = new MemoryStream();

        Assert.False((await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName)).Succeeded);
        await context.ChallengeAsync(ApiKeyAuthenticationHandler.SchemeName);

        Assert.Equal(403, context.Response.StatusCode);
        context.Response.Body.Position = 0;
        var body = await new StreamReader(context.Response.Body).ReadToEndAsync();
        Assert.Contains("loopback", body, StringComparison.Ordinal);
    }
}
