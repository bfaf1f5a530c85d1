using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ActorRefresh.Host.Cli;
using ActorRefresh.TestKit;
using Spectre.Console.Testing;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// A real keyless <c>serve</c> process with the real engine: the requests a web page can make (rebound Host, cross-site
/// Origin, no-cors text/plain POST) are refused, and the CLI on the same machine keeps working, import with sync of a
/// file in an allowed folder included.
/// </summary>
public sealed class KeylessServeTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-keyless-" + Guid.NewGuid().ToString("N"));
    private FakeTokenServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeTokenServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_keyless_serve_refuses_what_a_web_page_can_send_and_the_cli_keeps_working()
    {
        Directory.CreateDirectory(_directory);
        var issued = _server.CreateAccount("keyless");
        var credentials = Path.Combine(_directory, "credentials.json");
        await File.WriteAllTextAsync(credentials, JsonSerializer.Serialize(new
        {
            claudeAiOauth = new { accessToken = issued.AccessToken, refreshToken = issued.RefreshToken, expiresAt = issued.ExpiresAt.ToUnixTimeMilliseconds() },
        }));
        File.SetUnixFileMode(credentials, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        await using var host = await HostProcess.StartAsync("", new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = Path.Combine(_directory, "data"),
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            ["ActorRefresh__Sync__AllowedFolders__0"] = _directory,
        });

        async Task<int> Cli(params string[] args)
        {
            var error = new StringWriter();
            var exit = await new CliApp(new StringWriter(), error, new TestConsole(), name => name == CliApp.ServerEnvironmentVariable
                ? host.BaseAddress.ToString() : null).RunAsync(args);
            Assert.True(exit == 0, $"{string.Join(' ', args)}: {error}");
            return exit;
        }

        await Cli("import-claude", credentials, "--id", "keyless", "--sync");
        await Cli("status", "keyless");
        await Cli("token", "keyless");

        using var rebound = new HttpRequestMessage(HttpMethod.Get, "v1/accounts/keyless/token");
        rebound.Headers.Host = "attacker.example:" + host.BaseAddress.Port;
        var reboundAnswer = await host.Client.SendAsync(rebound);
        Assert.Equal(HttpStatusCode.Forbidden, reboundAnswer.StatusCode);
        Assert.DoesNotContain(issued.AccessToken, await reboundAnswer.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var crossSite = new HttpRequestMessage(HttpMethod.Get, "v1/accounts/keyless/token");
        crossSite.Headers.Add("Origin", "https://attacker.example");
        crossSite.Headers.Add("Sec-Fetch-Site", "cross-site");
        Assert.Equal(HttpStatusCode.Forbidden, (await host.Client.SendAsync(crossSite)).StatusCode);

        var noCors = new StringContent("""{"reason":"attacker"}""", Encoding.UTF8);
        noCors.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await host.Client.PostAsync("v1/accounts/keyless/block", noCors)).StatusCode);

        var status = JsonDocument.Parse(await host.Client.GetStringAsync("v1/accounts/keyless")).RootElement;
        Assert.NotEqual("PolicyBlocked", status.GetProperty("state").GetString());
        await Cli("block", "keyless", "--reason", "operator");
        status = JsonDocument.Parse(await host.Client.GetStringAsync("v1/accounts/keyless")).RootElement;
        Assert.Equal("PolicyBlocked", status.GetProperty("state").GetString());
    }
}
