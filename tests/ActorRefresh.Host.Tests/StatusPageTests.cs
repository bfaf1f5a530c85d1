using System.Net;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Host.Tests;

public sealed class StatusPageTests
{
    [Fact]
    public async Task Lists_accounts_html_encoded_and_never_shows_a_token()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("team@corp", "claude", new Secret("sk-ant-ort01-PAGE-REFRESH"),
            new Secret("sk-ant-oat01-PAGE-ACCESS"), BrokerServer.Now.AddHours(1)));
        await server.Tokens.RegisterAsync(new AccountCredentials("other", "generic", new Secret("opaque-refresh")));
        server.Tokens.SetBackingOff("other", BrokerServer.Now.AddMinutes(10), "429");
        server.Tokens.SetLastError("other", "<script>alert(1)</script>", "x");

        var response = await server.Client.GetAsync("");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Contains("<meta http-equiv=\"refresh\" content=\"5\">", html, StringComparison.Ordinal);
        Assert.Contains("<td>team@corp</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td>claude</td>", html, StringComparison.Ordinal);
        Assert.Contains(">BackingOff</td>", html, StringComparison.Ordinal);
        Assert.Contains("2026-03-01 13:00:00Z", html, StringComparison.Ordinal); // access token expiry
        Assert.Contains("2026-03-01 12:10:00Z", html, StringComparison.Ordinal); // retry at
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("PAGE-REFRESH", html, StringComparison.Ordinal);
        Assert.DoesNotContain("PAGE-ACCESS", html, StringComparison.Ordinal);
        Assert.DoesNotContain("opaque-refresh", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shows_an_empty_state_and_an_unavailable_engine()
    {
        await using var server = await BrokerServer.StartAsync();
        Assert.Contains("No accounts are registered", await server.Client.GetStringAsync(""), StringComparison.Ordinal);
        server.Tokens.EngineDown = true;
        var response = await server.Client.GetAsync("");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("Engine unavailable", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
