using System.Net;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Host.Api;

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

    [Fact]
    public async Task Shows_utilisation_bars_and_pools_encoded_and_never_a_token()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("busy", "claude", new Secret("sk-ant-ort01-BAR-REFRESH"),
            new Secret("sk-ant-oat01-BAR-ACCESS"), BrokerServer.Now.AddHours(1)));
        await server.Tokens.RegisterAsync(new AccountCredentials("quiet", "claude", new Secret("sk-ant-ort01-QUIET")));
        // Five-hour at 93.4% until 14:00; seven-day 40% whose reset has already passed (counts as empty).
        server.Tokens.SetUsage("busy", new AccountUsage(93.4, BrokerServer.Now.AddHours(2), 40, BrokerServer.Now.AddMinutes(-1),
            BrokerServer.Now, null, null, "observed"));
        server.Tokens.SetLastError("quiet", "<img src=x>", "x"); // operator data in the same table stays encoded
        server.Tokens.DefinePool(new PoolDefinition("main@team", ["busy", "quiet"], PoolStrategy.RoundRobin));
        server.Tokens.PoolStatuses["main@team"] = new PoolStatus("main@team", PoolStrategy.RoundRobin, 90,
        [
            new PoolMember("busy", AccountState.Valid, 93.4, false, BrokerServer.Now.AddHours(2), "over", null),
            new PoolMember("quiet", AccountState.Valid, 0, true, null, null, null),
        ], null);

        var html = await server.Client.GetStringAsync("");
        Assert.Contains("<th>Five-hour</th><th>Seven-day</th>", html, StringComparison.Ordinal);
        Assert.Contains("<span class=\"hot\" style=\"width:93.4%\"></span>", html, StringComparison.Ordinal);
        Assert.Contains("93.4% <span class=\"reset\">resets 2026-03-01 14:00:00Z</span>", html, StringComparison.Ordinal);
        Assert.Contains("style=\"width:0%\"></span></span>0% <span class=\"reset\">reset</span>", html, StringComparison.Ordinal);
        Assert.Contains("<td>&lt;img src=x&gt;</td><td>—</td><td>—</td><td>—</td></tr>", html, StringComparison.Ordinal); // quiet: nothing to do, no quota known

        Assert.Contains("<h2>Pools</h2>", html, StringComparison.Ordinal);
        Assert.Contains("<td>main@team</td><td>round-robin</td><td class=\"Valid\">1/2</td>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;img src=x&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", html, StringComparison.Ordinal);
        Assert.DoesNotContain("BAR-ACCESS", html, StringComparison.Ordinal);
        Assert.DoesNotContain("BAR-REFRESH", html, StringComparison.Ordinal);
        Assert.DoesNotContain("QUIET", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shows_usage_unavailable_for_a_token_that_lacks_the_scope()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("setup", "claude", new Secret("sk-ant-ort01-SETUP"),
            new Secret("sk-ant-oat01-SETUP"), BrokerServer.Now.AddHours(1)));
        server.Tokens.SetUsage("setup", new AccountUsage(null, null, null, null, null, null, null, "scope_missing", "token lacks user:profile"));

        var html = await server.Client.GetStringAsync("");
        Assert.Contains("<td colspan=\"2\" class=\"unavailable\">usage: unavailable (token lacks user:profile)</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"Valid\">Valid</td>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("SETUP", html, StringComparison.Ordinal);
    }

    [Fact]
    public void A_utilisation_bar_is_clamped_and_encoded()
    {
        var now = BrokerServer.Now;
        Assert.Contains("width:100%", StatusPage.UsageCell(130, null, now), StringComparison.Ordinal);
        Assert.Contains("width:0%", StatusPage.UsageCell(-5, null, now), StringComparison.Ordinal);
        Assert.Contains("class=\"warm\"", StatusPage.UsageCell(75, null, now), StringComparison.Ordinal);
        Assert.Equal("<td>—</td>", StatusPage.UsageCell(null, now, now));
        Assert.Equal("<td>—</td>", StatusPage.UsageCell(double.NaN, null, now));
    }
}
