using System.Text.Json.Nodes;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.TestKit;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// Access-only files (<c>ActorRefresh:Accounts:&lt;id&gt;:Materialize</c>) through the real hosted engine, real files
/// and the fake token server: the current access token after every rotation, never a refresh token, mode 0600, the
/// keys the engine does not own kept.
/// </summary>
[Collection(HostCollection.Name)]
public sealed class MaterializedFileTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "actorrefresh-materialize-" + Guid.NewGuid().ToString("N"));

    public MaterializedFileTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task A_claude_file_holds_the_current_access_token_after_every_rotation_and_never_a_refresh_token()
    {
        var path = Path.Combine(_folder, ".credentials.json");
        File.WriteAllText(path, """{"mcpServers":{"x":{"command":"y"}},"claudeAiOauth":{"refreshToken":"planted-by-an-old-login","subscriptionType":"max"}}""");
        await using var engine = await HostedEngine.StartAsync(extra: new Dictionary<string, string?>
        {
            ["ActorRefresh:Accounts:m1:Materialize:0:Path"] = path,
        });
        var issued = engine.Server.CreateAccount("m1");
        await engine.Accounts.RegisterAsync(new AccountCredentials("m1", "claude", new Secret(issued.RefreshToken), new Secret(issued.AccessToken), issued.ExpiresAt));
        var refreshTokens = new List<string> { issued.RefreshToken };

        await WaitForAccessTokenAsync(path, issued.AccessToken);
        for (var i = 0; i < 2; i++)
        {
            await engine.Accounts.ForceRefreshAsync("m1");
            // The refresh is answered by the provider after the command returns: the rotation is waited for.
            var rotations = i + 1;
            await WaitForAsync(() => engine.Server.CountersOf("m1").Rotations >= rotations, "the forced refresh should rotate");
            var current = engine.Server.Current("m1");
            refreshTokens.Add(current.RefreshToken);
            await WaitForAccessTokenAsync(path, current.AccessToken);
        }

        var text = File.ReadAllText(path);
        foreach (var refresh in refreshTokens) Assert.DoesNotContain(refresh, text, StringComparison.Ordinal);
        var json = JsonNode.Parse(text)!.AsObject();
        var oauth = json["claudeAiOauth"]!.AsObject();
        Assert.False(oauth.ContainsKey("refreshToken"), "the file must hold no refresh token");
        // The expiry the engine holds for the token (from the provider's expires_in, as it received it).
        var status = await engine.Accounts.GetStatusAsync("m1");
        Assert.Equal(status.AccessTokenExpiresAt!.Value.ToUnixTimeMilliseconds(), oauth["expiresAt"]!.GetValue<long>());
        Assert.Contains("user:inference", oauth["scopes"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal("max", oauth["subscriptionType"]!.GetValue<string>());
        Assert.Equal("y", json["mcpServers"]!["x"]!["command"]!.GetValue<string>());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task Token_and_env_files_hold_only_the_access_token()
    {
        var tokenPath = Path.Combine(_folder, "token");
        var envPath = Path.Combine(_folder, "claude.env");
        await using var engine = await HostedEngine.StartAsync(extra: new Dictionary<string, string?>
        {
            ["ActorRefresh:Accounts:m2:Materialize:0:Path"] = tokenPath,
            ["ActorRefresh:Accounts:m2:Materialize:0:Format"] = "token",
            ["ActorRefresh:Accounts:m2:Materialize:1:Path"] = envPath,
            ["ActorRefresh:Accounts:m2:Materialize:1:Format"] = "env",
        });
        var issued = engine.Server.CreateAccount("m2");
        await engine.Accounts.RegisterAsync(new AccountCredentials("m2", "claude", new Secret(issued.RefreshToken), new Secret(issued.AccessToken), issued.ExpiresAt));
        await engine.Accounts.ForceRefreshAsync("m2");
        await WaitForAsync(() => engine.Server.CountersOf("m2").Rotations >= 1, "the forced refresh should rotate");
        var current = engine.Server.Current("m2");

        await WaitForAsync(() => ReadOrEmpty(tokenPath) == current.AccessToken + "\n" && ReadOrEmpty(envPath) == $"CLAUDE_CODE_OAUTH_TOKEN={current.AccessToken}\n",
            "the token and env files should hold the rotated access token");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(envPath));
    }

    [Theory]
    [InlineData("Path", "relative/file.json", "ActorRefresh:Accounts:m3:Materialize:0:Path must be an absolute file path")]
    [InlineData("Format", "yaml", "ActorRefresh:Accounts:m3:Materialize:0:Format 'yaml' is not one of claude, token, env")]
    public async Task A_wrong_materialize_setting_stops_the_start_naming_the_key(string setting, string value, string message)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Accounts:m3:Materialize:0:Path"] = Path.Combine(_folder, "file.json"),
            [$"ActorRefresh:Accounts:m3:Materialize:0:{setting}"] = value,
        };
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var engine = await HostedEngine.StartAsync(extra: settings);
        });
        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }

    private static Task WaitForAccessTokenAsync(string path, string accessToken) =>
        WaitForAsync(() => ReadOrEmpty(path) is { Length: > 0 } text && JsonNode.Parse(text)?["claudeAiOauth"]?["accessToken"]?.GetValue<string>() == accessToken,
            "the file should hold the account's current access token");

    // The files are written by a background loop right after the account publishes its token: waited for with a bound.
    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what);
            await Task.Delay(20);
        }
    }
}
