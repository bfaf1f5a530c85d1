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
        Assert.Contains("<td>&lt;img src=x&gt;</td><td>—</td><td>—</td><td>—</td><td class=\"actions\">", html, StringComparison.Ordinal); // quiet: nothing to do, no quota known

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

    [Fact]
    public async Task A_long_list_is_paged_and_filtered_and_bad_filters_are_named()
    {
        await using var server = await BrokerServer.StartAsync();
        for (var i = 0; i < 250; i++)
            await server.Tokens.RegisterAsync(new AccountCredentials($"acct-{i:D4}", "claude", new Secret("sk-ant-ort01-P" + i)));
        await server.Tokens.BlockAsync("acct-0007", "maintenance");
        static int Rows(string html) => html.Split("<tr data-account=").Length - 1;

        var first = await server.Client.GetStringAsync("");
        Assert.Equal(StatusPage.PageSize, Rows(first));
        Assert.Contains("page 1 of 3: 1–100 of 250", first, StringComparison.Ordinal);
        Assert.Contains("<a id=\"next\" href=\"/?page=2\">", first, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"previous\"", first, StringComparison.Ordinal);
        Assert.Contains("<td>acct-0099</td>", first, StringComparison.Ordinal);
        Assert.DoesNotContain("<td>acct-0100</td>", first, StringComparison.Ordinal);

        var last = await server.Client.GetStringAsync("?page=3");
        Assert.Equal(50, Rows(last));
        Assert.Contains("page 3 of 3: 201–250 of 250", last, StringComparison.Ordinal);
        Assert.Contains("<td>acct-0249</td>", last, StringComparison.Ordinal);
        Assert.Equal(50, Rows(await server.Client.GetStringAsync("?page=9"))); // past the end: the last page

        var found = await server.Client.GetStringAsync("?q=ACCT-012");
        Assert.Equal(10, Rows(found));
        Assert.Contains("10 of 250 accounts", found, StringComparison.Ordinal);
        var blocked = await server.Client.GetStringAsync("?state=PolicyBlocked");
        Assert.Equal(1, Rows(blocked));
        Assert.Contains("<td>acct-0007</td>", blocked, StringComparison.Ordinal);
        Assert.Contains("<option selected>PolicyBlocked</option>", blocked, StringComparison.Ordinal);
        Assert.Contains("No account matches", await server.Client.GetStringAsync("?q=nobody"), StringComparison.Ordinal);

        using var badState = await server.Client.GetAsync("?state=Broken");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badState.StatusCode);
        Assert.Contains("&#39;state&#39; must be one of Valid, Refreshing, BackingOff, PolicyBlocked", await badState.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var badPage = await server.Client.GetAsync("?page=0");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badPage.StatusCode);
        Assert.Contains("&#39;page&#39; must be a whole number", await badPage.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_runs_only_its_own_script_and_shows_grant_ends()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("setup", "claude", null, new Secret("sk-ant-oat01-LONG"), BrokerServer.Now.AddDays(300))
        {
            GrantExpiresAt = BrokerServer.Now.AddDays(300),
        });
        using var response = await server.Client.GetAsync("");
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<th>Grant ends</th>", html, StringComparison.Ordinal);
        Assert.Contains("<td>2026-12-26 12:00:00Z</td>", html, StringComparison.Ordinal);
        Assert.Contains("<script src=\"/status-page.js\" defer></script>", html, StringComparison.Ordinal);

        using var script = await server.Anonymous.GetAsync("status-page.js");
        Assert.Equal(System.Net.HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Contains("X-CSRF-TOKEN", await script.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_period_out_of_range_stops_the_start_naming_the_setting()
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            BrokerServer.StartAsync(settings: new() { [ApiOptions.StatusPageReloadSetting] = "-1" }));
        Assert.Contains("ActorRefresh:Api:StatusPageReloadSeconds must be from 0 (never) to 3600 (it is -1)", refused.Message, StringComparison.Ordinal);
    }
}
