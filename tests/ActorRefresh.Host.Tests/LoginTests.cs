using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ActorRefresh.Host.Cli;
using ActorRefresh.Host.Tests.Reliability;
using ActorRefresh.TestKit;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// Logging in through a real <c>serve</c> process against <see cref="FakeTokenServer"/>'s authorize page and strict code
/// grant; the test plays the user's browser. Over HTTP a new account is added, and from the CLI a dead grant is logged in
/// again, which clears its block.
/// </summary>
public sealed partial class LoginTests : IAsyncLifetime
{
    private const string Key = "login-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKLMN";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-login-" + Guid.NewGuid().ToString("N"));
    private FakeTokenServer _server = null!;
    private HostProcess _serve = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeTokenServer.StartAsync();
        _serve = await HostProcess.StartAsync(Key, new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            ["ActorRefresh__Providers__claude__UsageEndpoint"] = _server.UsageEndpoint.ToString(),
            ["ActorRefresh__Providers__claude__AuthorizeEndpoint"] = _server.AuthorizeEndpoint.ToString(),
        });
    }

    public async Task DisposeAsync()
    {
        await _serve.DisposeAsync();
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex("<code id=\"code\">([^<]+)</code>")]
    private static partial Regex CodePattern();

    /// <summary>What the user does: open the URL, log in (the fake server is told who), copy the code the page shows.</summary>
    private static async Task<string> BrowseAsync(string authorizeUrl)
    {
        using var browser = new HttpClient();
        return CodePattern().Match(await browser.GetStringAsync(authorizeUrl)).Groups[1].Value;
    }

    [Fact]
    public async Task Over_http_a_login_adds_an_account_and_a_login_is_single_use()
    {
        _server.LogInAs("login-new");
        var started = await (await _serve.Client.PostAsJsonAsync("v1/accounts/login-new/login", new { provider = "claude" })).Content.ReadFromJsonAsync<JsonObject>();
        var loginId = started!["loginId"]!.GetValue<string>();
        var url = started["authorizeUrl"]!.GetValue<string>();
        Assert.StartsWith(_server.AuthorizeEndpoint.ToString(), url, StringComparison.Ordinal);
        Assert.Contains("code_challenge_method=S256", url, StringComparison.Ordinal);

        var pasted = await BrowseAsync(url);
        using (var wrongState = await _serve.Client.PostAsJsonAsync($"v1/logins/{loginId}", new { code = pasted.Split('#')[0] + "#forged" }))
            Assert.Equal(HttpStatusCode.BadRequest, wrongState.StatusCode);

        // The forged attempt used the login up: a new one is started.
        var again = await (await _serve.Client.PostAsJsonAsync("v1/accounts/login-new/login", new { provider = "claude" })).Content.ReadFromJsonAsync<JsonObject>();
        var secondId = again!["loginId"]!.GetValue<string>();
        using var done = await _serve.Client.PostAsJsonAsync($"v1/logins/{secondId}", new { code = await BrowseAsync(again["authorizeUrl"]!.GetValue<string>()) });
        Assert.True(done.StatusCode == HttpStatusCode.OK, await done.Content.ReadAsStringAsync());
        var token = await (await _serve.Client.GetAsync("v1/accounts/login-new/token")).Content.ReadFromJsonAsync<JsonObject>();
        Assert.Equal(_server.Current("login-new").AccessToken, token!["accessToken"]!.GetValue<string>());

        using var reused = await _serve.Client.PostAsJsonAsync($"v1/logins/{secondId}", new { code = "whatever#x" });
        Assert.Equal(HttpStatusCode.NotFound, reused.StatusCode);
        Assert.DoesNotContain(_server.Current("login-new").RefreshToken, _serve.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task From_the_cli_a_dead_grant_is_logged_in_again_and_the_block_is_cleared()
    {
        var issued = _server.CreateAccount("login-dead");
        // Scripted before the registration: an account registered without an access token refreshes at once on its own,
        // and that first call (or the token request's, whichever comes first) must meet the dead grant.
        _server.Script("login-dead", FakeFault.InvalidGrant());
        (await _serve.Client.PostAsJsonAsync("v1/accounts", new { id = "login-dead", provider = "claude", refreshToken = issued.RefreshToken })).EnsureSuccessStatusCode();
        using (var blocked = await _serve.Client.GetAsync("v1/accounts/login-dead/token"))
            Assert.Equal(HttpStatusCode.Conflict, blocked.StatusCode);

        _server.LogInAs("login-dead");
        var output = new StringWriter();
        var error = new StringWriter();
        var environment = new Dictionary<string, string?>
        {
            [CliApp.ApiKeyEnvironmentVariable] = Key,
            [CliApp.ServerEnvironmentVariable] = _serve.BaseAddress.ToString(),
        };
        var cli = new CliApp(output, error, new Spectre.Console.Testing.TestConsole(), name => environment.GetValueOrDefault(name),
            new BrowserReader(output));
        var exit = await cli.RunAsync(["login", "claude", "--id", "login-dead", "--json"]);

        Assert.True(exit == 0, error.ToString());
        Assert.Contains("\"state\":\"Valid\"", output.ToString(), StringComparison.Ordinal);
        var token = await (await _serve.Client.GetAsync("v1/accounts/login-dead/token")).Content.ReadFromJsonAsync<JsonObject>();
        Assert.Equal(_server.Current("login-dead").AccessToken, token!["accessToken"]!.GetValue<string>());
        Assert.Equal(1, _server.CodeExchanges);
    }

    /// <summary>The user at the terminal: reads the URL the CLI printed, logs in in a browser, types the code.</summary>
    private sealed class BrowserReader(StringWriter printed) : TextReader
    {
        public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            var url = printed.ToString().Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("http", StringComparison.Ordinal));
            return await BrowseAsync(url);
        }
    }
}
