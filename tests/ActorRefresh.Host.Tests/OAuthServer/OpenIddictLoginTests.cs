using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using ActorRefresh.Host.Cli;
using ActorRefresh.Host.Tests.Reliability;

namespace ActorRefresh.Host.Tests.OAuthServer;

/// <summary>
/// <c>actor-refresh login</c> from the CLI against a real <c>serve</c> process and a real OAuth 2.0 server
/// (<see cref="OpenIddictServer"/>) on loopback, the test playing the user's browser: the loopback redirect (RFC 8252)
/// and the device grant (RFC 8628) register the account; refreshes go through OpenIddict, which rotates the refresh token
/// each time and revokes the whole grant when a redeemed one comes back; a re-login into the blocked id clears the block
/// and keeps its pool.
/// </summary>
public sealed class OpenIddictLoginTests : IAsyncLifetime
{
    private const string Key = "oidc-login-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFG";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-oidc-" + Guid.NewGuid().ToString("N"));
    private int _port;
    private OpenIddictServer _idp = null!;
    private HostProcess _serve = null!;

    public async Task InitializeAsync()
    {
        // OpenIddict matches redirect URIs exactly: the loopback port is chosen here, registered, and given to --port.
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            _port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        _idp = await OpenIddictServer.StartAsync(new Uri($"http://127.0.0.1:{_port}/callback"));
        _serve = await HostProcess.StartAsync(Key, new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Providers__idp__TokenEndpoint"] = _idp.TokenEndpoint.ToString(),
            ["ActorRefresh__Providers__idp__AuthorizeEndpoint"] = _idp.AuthorizeEndpoint.ToString(),
            ["ActorRefresh__Providers__idp__DeviceAuthorizationEndpoint"] = _idp.DeviceEndpoint.ToString(),
            ["ActorRefresh__Providers__idp__ClientId"] = OpenIddictServer.ClientId,
            ["ActorRefresh__Providers__idp__LoginScope"] = "offline_access",
        });
    }

    public async Task DisposeAsync()
    {
        await _serve.DisposeAsync();
        await _idp.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Runs a CLI command in-process against the serve process while <paramref name="user"/> acts on what it prints.</summary>
    private async Task<(int Exit, string Output, string Error)> RunCliAsync(string[] arguments, Func<PrintedLines, Task> user)
    {
        var output = new PrintedLines();
        var error = new StringWriter();
        var environment = new Dictionary<string, string?>
        {
            [CliApp.ApiKeyEnvironmentVariable] = Key,
            [CliApp.ServerEnvironmentVariable] = _serve.BaseAddress.ToString(),
        };
        var cli = new CliApp(TextWriter.Synchronized(output), error, new Spectre.Console.Testing.TestConsole(), name => environment.GetValueOrDefault(name));
        var run = cli.RunAsync(arguments);
        var acting = user(output);
        var finished = await Task.WhenAny(run, acting);
        if (finished == acting) await acting; // a failing user step shows its own exception
        var exit = await run.WaitAsync(TimeSpan.FromMinutes(2));
        await acting.WaitAsync(TimeSpan.FromSeconds(30));
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The user's browser: opens the printed authorize URL; OpenIddict approves and redirects to the CLI's listener.</summary>
    private static async Task BrowseToLoopbackAsync(PrintedLines printed)
    {
        var url = await printed.LineAsync(line => line.StartsWith("http", StringComparison.Ordinal));
        using var browser = new HttpClient();
        using var page = await browser.GetAsync(url);
        var text = await page.Content.ReadAsStringAsync();
        Assert.True(page.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("127.0.0.1", page.RequestMessage!.RequestUri!.Host);
        Assert.Contains("<h1>Logged in</h1>", text, StringComparison.Ordinal);
    }

    /// <summary>The user on another device: opens the verification URL with the user code, which OpenIddict approves.</summary>
    private static async Task ApproveUserCodeAsync(PrintedLines printed)
    {
        var line = await printed.LineAsync(l => l.StartsWith("(or open http", StringComparison.Ordinal));
        var url = line["(or open ".Length..].TrimEnd(')');
        using var browser = new HttpClient();
        using var page = await browser.GetAsync(url);
        Assert.Equal("approved", await page.Content.ReadAsStringAsync());
    }

    /// <summary>Waits for the broker to reach a state (its refresh runs after the API answered); fails after 20 s.</summary>
    private static async Task UntilAsync(Func<Task<bool>> reached)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await reached())
        {
            Assert.True(DateTime.UtcNow < deadline, "the broker did not get there within 20 s");
            await Task.Delay(100);
        }
    }

    private async Task<string?> ServedTokenAsync(string id)
    {
        using var response = await _serve.Client.GetAsync($"v1/accounts/{id}/token");
        return response.IsSuccessStatusCode ? (await response.Content.ReadFromJsonAsync<JsonObject>())!["accessToken"]!.GetValue<string>() : null;
    }

    [Fact]
    public async Task A_loopback_login_registers_refreshes_rotate_a_replayed_token_kills_the_grant_and_a_re_login_revives_the_id()
    {
        string[] login = ["login", "idp", "--id", "oidc-user", "--no-browser", "--port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json"];
        var (exit, output, error) = await RunCliAsync(login, BrowseToLoopbackAsync);
        Assert.True(exit == 0, error + output);
        Assert.Contains("\"state\":\"Valid\"", output, StringComparison.Ordinal);
        var first = Assert.Single(_idp.TokenAnswers);
        Assert.Equal(GrantTypes.AuthorizationCode, first.GrantType);
        Assert.NotNull(first.RefreshToken);
        Assert.Equal(first.AccessToken, await ServedTokenAsync("oidc-user"));
        using (var pool = await _serve.Client.PutAsJsonAsync("v1/pools/team", new { accounts = new[] { "oidc-user" } }))
            Assert.True(pool.IsSuccessStatusCode, await pool.Content.ReadAsStringAsync());

        // Two refreshes through OpenIddict: each presents the newest refresh token and gets another.
        var presented = first.RefreshToken!;
        for (var i = 0; i < 2; i++)
        {
            var answered = _idp.TokenAnswers.Count;
            using (var refreshed = await _serve.Client.PostAsync("v1/accounts/oidc-user/refresh", null))
                Assert.True(refreshed.IsSuccessStatusCode, await refreshed.Content.ReadAsStringAsync());
            // The refresh runs after the answer: wait for OpenIddict's answer to reach the served token.
            await UntilAsync(async () => _idp.TokenAnswers.Count > answered && await ServedTokenAsync("oidc-user") == _idp.TokenAnswers.Last().AccessToken);
            Assert.Equal(answered + 1, _idp.TokenAnswers.Count);
            var rotation = _idp.TokenAnswers.Last();
            Assert.Equal(GrantTypes.RefreshToken, rotation.GrantType);
            Assert.Null(rotation.Error);
            Assert.Equal(presented, rotation.PresentedRefreshToken);
            Assert.NotEqual(presented, rotation.RefreshToken);
            Assert.Equal(rotation.AccessToken, await ServedTokenAsync("oidc-user"));
            presented = rotation.RefreshToken!;
        }
        Assert.Equal(new Dictionary<string, int> { ["redeemed"] = 2, ["valid"] = 1 }, await _idp.RefreshTokenStatusesAsync());

        // Someone replays the first refresh token: OpenIddict sees the reuse and revokes the grant, the broker's token too.
        using (var thief = new HttpClient())
        using (var replay = await thief.PostAsync(_idp.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = first.RefreshToken!,
            ["client_id"] = OpenIddictServer.ClientId,
        })))
            Assert.Equal(HttpStatusCode.BadRequest, replay.StatusCode);
        Assert.False((await _idp.RefreshTokenStatusesAsync()).ContainsKey("valid"));
        using (await _serve.Client.PostAsync("v1/accounts/oidc-user/refresh", null))
        {
        }
        await UntilAsync(async () =>
        {
            using var dead = await _serve.Client.GetAsync("v1/accounts/oidc-user/token");
            return dead.StatusCode == HttpStatusCode.Conflict;
        });
        Assert.Equal("invalid_grant", _idp.TokenAnswers.Last().Error);
        Assert.Equal(presented, _idp.TokenAnswers.Last().PresentedRefreshToken);

        // The operator logs the id in again: the block is gone and the pool still holds it.
        (exit, output, error) = await RunCliAsync(login, BrowseToLoopbackAsync);
        Assert.True(exit == 0, error + output);
        Assert.Contains("\"state\":\"Valid\"", output, StringComparison.Ordinal);
        var relogin = _idp.TokenAnswers.Last();
        Assert.Equal(GrantTypes.AuthorizationCode, relogin.GrantType);
        Assert.Equal(relogin.AccessToken, await ServedTokenAsync("oidc-user"));
        var team = await _serve.Client.GetStringAsync("v1/pools/team");
        Assert.Contains("oidc-user", team, StringComparison.Ordinal);

        foreach (var answer in _idp.TokenAnswers.Where(a => a.RefreshToken is not null))
            Assert.DoesNotContain(answer.RefreshToken!, _serve.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_device_login_registers_the_account_once_the_user_approves_the_code()
    {
        var (exit, output, error) = await RunCliAsync(["login", "idp", "--id", "oidc-device", "--device", "--json"], ApproveUserCodeAsync);

        Assert.True(exit == 0, error + output);
        Assert.Contains("\"state\":\"Valid\"", output, StringComparison.Ordinal);
        Assert.Contains("enter the code", output, StringComparison.Ordinal);
        var granted = _idp.TokenAnswers.Last();
        Assert.Equal(GrantTypes.DeviceCode, granted.GrantType);
        Assert.NotNull(granted.RefreshToken);
        Assert.All(_idp.TokenAnswers.SkipLast(1), pending => Assert.Equal("authorization_pending", pending.Error));
        Assert.Equal(granted.AccessToken, await ServedTokenAsync("oidc-device"));
        Assert.DoesNotContain(granted.RefreshToken!, _serve.Output, StringComparison.Ordinal);
    }

    private static class GrantTypes
    {
        public const string AuthorizationCode = "authorization_code";
        public const string RefreshToken = "refresh_token";
        public const string DeviceCode = "urn:ietf:params:oauth:grant-type:device_code";
    }
}
