using System.Net.Http.Headers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
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
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ActorRefresh.sln"))) dir = dir.Parent;
        var artifacts = Path.Combine(dir?.FullName ?? Path.GetTempPath(), "artifacts");
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
    public async Task Without_the_key_the_browser_gets_401_and_no_account()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("hidden", "claude", new Secret(RefreshToken), new Secret(AccessToken), BrokerServer.Now.AddHours(1)));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        var response = await page.GotoAsync(server.BaseAddress.ToString());

        Assert.Equal(401, response!.Status);
        Assert.DoesNotContain("hidden", await page.ContentAsync(), StringComparison.Ordinal);
    }
}
