using System.Net.Http.Headers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Api;
using ActorRefresh.TestKit;
using Microsoft.Playwright;

namespace ActorRefresh.Host.Tests.Browser;

/// <summary>Runs where Debian's Chromium is installed (tests/run.sh installs it); in CI a missing browser fails instead.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (!File.Exists(StatusPageBrowserTests.Chromium) && !Cluster.ClusterFixture.InCi)
            Skip = $"{StatusPageBrowserTests.Chromium} is missing: run tests/run.sh, which installs Debian's chromium.";
    }
}

/// <summary>
/// The status page in a real browser: Playwright for .NET driving Debian's Chromium (Playwright's own browser download
/// is not reachable here), against the real host on loopback. Each run leaves a screenshot in <c>artifacts/</c>.
/// </summary>
public sealed class StatusPageBrowserTests
{
    public static readonly string Chromium = Environment.GetEnvironmentVariable("ACTORREFRESH_CHROMIUM") ?? "/usr/bin/chromium";

    private const string AccessToken = "sk-ant-oat01-BROWSER-ACCESS-0000";
    private const string RefreshToken = "sk-ant-ort01-BROWSER-REFRESH-0000";

    private static async Task<IBrowser> LaunchAsync(IPlaywright playwright) => await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = Chromium,
        Headless = true,
        // As root in a container there is no user namespace for Chromium's sandbox; nothing but loopback is visited.
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"],
    });

    private static string Artifacts()
    {
        var artifacts = ActorRefresh.Testing.RepositoryRoot.Combine("artifacts");
        Directory.CreateDirectory(artifacts);
        return artifacts;
    }

    [BrowserFact]
    public async Task The_page_shows_every_account_state_and_no_token_in_the_DOM()
    {
        await using var server = await BrokerServer.StartAsync();
        foreach (var (id, state) in new[] { ("valid", AccountState.Valid), ("refreshing", AccountState.Refreshing),
                     ("backing-off", AccountState.BackingOff), ("blocked", AccountState.PolicyBlocked) })
        {
            await server.Tokens.RegisterAsync(new AccountCredentials(id, "claude", new Secret(RefreshToken + id),
                new Secret(AccessToken + id), BrokerServer.Now.AddHours(1)));
            switch (state)
            {
                case AccountState.BackingOff: server.Tokens.SetBackingOff(id, BrokerServer.Now.AddMinutes(10), "429 from the provider"); break;
                case AccountState.PolicyBlocked: await server.Tokens.BlockAsync(id, "maintenance"); break;
                case AccountState.Refreshing: server.Tokens.SetState(id, state); break;
            }
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions
        {
            ExtraHTTPHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + server.Key },
        });
        var response = await page.GotoAsync(server.BaseAddress.ToString());
        Assert.Equal(200, response!.Status);

        var rows = page.Locator("tbody tr");
        Assert.Equal(4, await rows.CountAsync());
        foreach (var (id, state) in new[] { ("valid", "Valid"), ("refreshing", "Refreshing"), ("backing-off", "BackingOff"), ("blocked", "PolicyBlocked") })
        {
            var row = rows.Filter(new LocatorFilterOptions { Has = page.Locator("td", new PageLocatorOptions { HasTextString = id }) });
            Assert.Equal(state, (await row.Locator($"td.{state}").InnerTextAsync()).Trim());
        }
        var dom = await page.ContentAsync();
        Assert.DoesNotContain(AccessToken, dom, StringComparison.Ordinal);
        Assert.DoesNotContain(RefreshToken, dom, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Key!, dom, StringComparison.Ordinal);

        var shot = Path.Combine(Artifacts(), "status-page.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        Assert.True(new FileInfo(shot).Length > 1000, "the screenshot was written");
    }

    [BrowserFact]
    public async Task A_person_signs_in_with_the_form_and_out_again()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("not-for-strangers", "claude", new Secret(RefreshToken), new Secret(AccessToken), BrokerServer.Now.AddHours(1)));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var context = await browser.NewContextAsync();
        var page = await context.NewPageAsync();
        var response = await page.GotoAsync(server.BaseAddress.ToString());
        Assert.Equal(200, response!.Status);
        Assert.EndsWith("/signin?returnUrl=%2F", page.Url, StringComparison.Ordinal);
        Assert.DoesNotContain("not-for-strangers", await page.ContentAsync(), StringComparison.Ordinal);

        await page.FillAsync("#key", "not-the-key");
        await page.ClickAsync("button[type=submit]");
        Assert.Contains("not one of the configured API keys", await page.InnerTextAsync("[role=alert]"), StringComparison.Ordinal);

        await page.FillAsync("#key", server.Key!);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("tr[data-account=not-for-strangers]");
        Assert.Equal(server.BaseAddress.ToString(), page.Url);
        var session = (await context.CookiesAsync()).Single(c => c.Name == BrowserSessions.CookieName);
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.DoesNotContain(BrowserSessions.CookieName, await page.EvaluateAsync<string>("document.cookie"), StringComparison.Ordinal);
        var dom = await page.ContentAsync();
        Assert.DoesNotContain(server.Key!, dom, StringComparison.Ordinal);
        Assert.DoesNotContain(AccessToken, dom, StringComparison.Ordinal);

        await page.ClickAsync("#sign-out");
        await page.WaitForSelectorAsync("#key");
        await page.GotoAsync(server.BaseAddress.ToString());
        Assert.Contains("/signin", page.Url, StringComparison.Ordinal);
    }

    private static readonly Dictionary<string, string?> NoReload = new() { ["ActorRefresh:Api:StatusPageReloadSeconds"] = "0" };

    /// <summary>A signed-in page (the form, as a person would) on a server whose page does not reload under the test.</summary>
    private static async Task<IPage> SignedInAsync(IBrowser browser, BrokerServer server)
    {
        var page = await (await browser.NewContextAsync()).NewPageAsync();
        await page.GotoAsync(server.BaseAddress.ToString());
        await page.FillAsync("#key", server.Key!);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("h1");
        return page;
    }

    private static ILocator StateOf(IPage page, string id) => page.Locator($"tr[data-account=\"{id}\"] td:nth-child(3)");

    [BrowserFact]
    public async Task The_buttons_refresh_unblock_and_add_accounts()
    {
        await using var server = await BrokerServer.StartAsync(settings: NoReload);
        await server.Tokens.RegisterAsync(new AccountCredentials("blocked", "claude", new Secret(RefreshToken), new Secret(AccessToken), BrokerServer.Now.AddHours(1)));
        await server.Tokens.BlockAsync("blocked", "maintenance");
        await server.Tokens.RegisterAsync(new AccountCredentials("fresh", "claude", new Secret(RefreshToken + "2"), new Secret(AccessToken + "2"), BrokerServer.Now.AddHours(1)));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await SignedInAsync(browser, server);

        await page.ClickAsync("button[data-action=unblock][data-account=blocked]");
        await page.WaitForSelectorAsync("#message:has-text('blocked: unblocked')");
        Assert.Equal("Valid", (await StateOf(page, "blocked").InnerTextAsync()).Trim());
        Assert.Equal(AccountState.Valid, (await server.Tokens.GetStatusAsync("blocked")).State);

        var before = (await server.Tokens.GetStatusAsync("fresh")).Version;
        await page.ClickAsync("button[data-action=refresh][data-account=fresh]");
        await page.WaitForSelectorAsync("#message:has-text('fresh: refreshed')");
        Assert.True((await server.Tokens.GetStatusAsync("fresh")).Version > before, "the account was refreshed");

        async Task AddWithRefreshTokenAsync(string id, string refreshToken)
        {
            await page.ClickAsync("#add-open");
            await page.FillAsync("#add-id", id);
            await page.CheckAsync("input[name=add-how][value=token]");
            await page.FillAsync("#add-token", refreshToken);
            await page.ClickAsync("#add-submit");
        }

        await AddWithRefreshTokenAsync("pasted", "sk-ant-ort01-PASTED-REFRESH");
        await page.WaitForSelectorAsync("tr[data-account=pasted]");
        Assert.Equal(AccountState.Valid, (await server.Tokens.GetStatusAsync("pasted")).State);

        // A refused action says why and changes nothing.
        await AddWithRefreshTokenAsync("pasted", "sk-ant-ort01-AGAIN");
        await page.WaitForSelectorAsync("#add-error:not(:empty)");
        Assert.Contains("already", await page.InnerTextAsync("#add-error"), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("PASTED-REFRESH", await page.ContentAsync(), StringComparison.Ordinal);
    }

    [BrowserFact]
    public async Task A_dead_grant_is_logged_in_again_and_a_new_account_added_by_login()
    {
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: new(NoReload)
        {
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = fake.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:claude:AuthorizeEndpoint"] = fake.AuthorizeEndpoint.ToString(),
        });
        await server.Tokens.RegisterAsync(new AccountCredentials("dead", "claude", new Secret(RefreshToken)));
        server.Tokens.SetState("dead", AccountState.PolicyBlocked);
        server.Tokens.SetLastError("dead", "grant_rejected", "invalid_grant");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await SignedInAsync(browser, server);
        Assert.Contains("log in again", await page.InnerTextAsync("tr[data-account=dead]"), StringComparison.Ordinal);

        async Task LogInThroughTheDialogAsync()
        {
            try
            {
                await page.WaitForSelectorAsync("#login-dialog[open] #login-url");
            }
            catch (TimeoutException)
            {
                Assert.Fail($"no login dialog; the page says '{await page.InnerTextAsync("#message")}' / '{await page.InnerTextAsync("#add-error")}'");
            }
            // The person opens the provider's page (a new tab), signs in there and copies the code back.
            var provider = await page.RunAndWaitForPopupAsync(() => page.ClickAsync("#login-url"));
            var code = await provider.InnerTextAsync("#code");
            await provider.CloseAsync();
            await page.FillAsync("#login-code", code);
            await page.ClickAsync("#login-submit");
        }

        fake.LogInAs("dead");
        await page.ClickAsync("button[data-action=login][data-account=dead]");
        await LogInThroughTheDialogAsync();
        await page.WaitForSelectorAsync("#message:has-text('dead: logged in')");
        Assert.Equal("Valid", (await StateOf(page, "dead").InnerTextAsync()).Trim());
        var relogged = server.Tokens.Replaced.Single(c => c.AccountId == "dead");
        Assert.NotEqual(RefreshToken, relogged.RefreshToken!.Reveal());

        fake.LogInAs("newcomer");
        await page.ClickAsync("#add-open");
        await page.FillAsync("#add-id", "newcomer");
        await page.ClickAsync("#add-submit");
        await LogInThroughTheDialogAsync();
        await page.WaitForSelectorAsync("tr[data-account=newcomer]");
        Assert.Equal("Valid", (await StateOf(page, "newcomer").InnerTextAsync()).Trim());

        var dom = await page.ContentAsync();
        Assert.DoesNotContain(relogged.RefreshToken.Reveal(), dom, StringComparison.Ordinal);
        Assert.DoesNotContain(relogged.AccessToken!.Reveal(), dom, StringComparison.Ordinal);
    }

    [BrowserFact]
    public async Task A_thousand_accounts_are_paged_and_filtered()
    {
        await using var server = await BrokerServer.StartAsync(settings: NoReload);
        for (var i = 0; i < 1000; i++)
            await server.Tokens.RegisterAsync(new AccountCredentials($"acct-{i:D4}", "claude", new Secret(RefreshToken + i)));
        await server.Tokens.BlockAsync("acct-0500", "maintenance");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await SignedInAsync(browser, server);
        Assert.Equal(StatusPage.PageSize, await page.Locator("#accounts tbody tr").CountAsync());
        Assert.Contains("page 1 of 10", await page.InnerTextAsync("#page"), StringComparison.Ordinal);

        await page.ClickAsync("#next");
        await page.WaitForSelectorAsync("tr[data-account=acct-0100]");
        Assert.Contains("page 2 of 10", await page.InnerTextAsync("#page"), StringComparison.Ordinal);

        await page.SelectOptionAsync("#filter select[name=state]", "PolicyBlocked");
        await page.ClickAsync("#filter button[type=submit]");
        await page.WaitForSelectorAsync("#count:has-text('1 of 1000')");
        Assert.Equal(1, await page.Locator("#accounts tbody tr").CountAsync());

        await page.FillAsync("#filter input[name=q]", "acct-09");
        await page.SelectOptionAsync("#filter select[name=state]", "");
        await page.ClickAsync("#filter button[type=submit]");
        await page.WaitForSelectorAsync("#count:has-text('100 of 1000')");
        Assert.Equal(100, await page.Locator("#accounts tbody tr").CountAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts(), "status-page-1000.png") });
    }

    [BrowserFact]
    public async Task By_default_the_page_reloads_itself()
    {
        await using var server = await BrokerServer.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await SignedInAsync(browser, server);
        Assert.Equal("5", await page.GetAttributeAsync("body", "data-reload"));
        // The next load event is the page's own reload (within twice its period).
        await page.WaitForLoadStateAsync(LoadState.Load);
        var reloaded = page.WaitForRequestAsync(server.BaseAddress.ToString(), new PageWaitForRequestOptions { Timeout = 10_000 });
        Assert.Equal("GET", (await reloaded).Method);
    }
}
