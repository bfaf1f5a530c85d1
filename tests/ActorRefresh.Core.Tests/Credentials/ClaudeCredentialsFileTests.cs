using System.Text.Json.Nodes;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tests.Infrastructure;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Tests.Credentials;

public sealed class ClaudeCredentialsFileTests : IDisposable
{
    private const long ExpiresMs = 1767225600000;

    private static readonly string ValidJson = $$$"""
        {
          "claudeAiOauth": {
            "accessToken": "{{{TestTokens.Access}}}",
            "refreshToken": "{{{TestTokens.Refresh}}}",
            "expiresAt": {{{ExpiresMs}}},
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
            "rateLimitTier": "default_claude_max_20x",
            "refreshTokenExpiresAt": 1790000000000
          },
          "mcpOAuth": { "server-a": { "accessToken": "other-tool-token" } },
          "version": 3
        }
        """;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("actorrefresh-cred-");

    private string PathOf(string name = ".credentials.json") => Path.Combine(_dir.FullName, name);

    private string WriteRaw(string json, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite, string name = ".credentials.json")
    {
        var path = PathOf(name);
        File.WriteAllText(path, json);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
        return path;
    }

    public void Dispose() => _dir.Delete(recursive: true);

    private static void AssertSafe(CredentialsFileException ex, string path)
    {
        Assert.Equal(path, ex.Path);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        var everything = ex.ToString();
        foreach (var token in new[] { TestTokens.Access, TestTokens.Refresh, TestTokens.NewRefresh, "sk-ant-" })
            Assert.DoesNotContain(token, everything, StringComparison.Ordinal);
        Assert.IsNotType<System.Text.Json.JsonException>(ex.InnerException);
    }

    [Fact]
    public void Reads_the_claude_code_file()
    {
        var path = WriteRaw(ValidJson);

        var credentials = ClaudeCredentialsFile.Read(path);

        Assert.Equal(TestTokens.Access, credentials.AccessToken.Reveal());
        Assert.Equal(TestTokens.Refresh, credentials.RefreshToken!.Reveal());
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(ExpiresMs), credentials.ExpiresAt);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1790000000000), credentials.RefreshTokenExpiresAt);
        Assert.Equal(["user:inference", "user:profile"], credentials.Scopes);
        Assert.Equal("max", credentials.SubscriptionType);
    }

    [Fact]
    public void Printing_credentials_shows_fingerprints_only()
    {
        var credentials = ClaudeCredentialsFile.Parse(ValidJson, "upload");

        var text = credentials.ToString();

        Assert.DoesNotContain(TestTokens.Access, text, StringComparison.Ordinal);
        Assert.DoesNotContain(TestTokens.Refresh, text, StringComparison.Ordinal);
        Assert.Contains(Secret.FingerprintOf(TestTokens.Access), text, StringComparison.Ordinal);
        Assert.Contains("max", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Writing_replaces_the_tokens_and_keeps_every_other_key()
    {
        var path = WriteRaw(ValidJson);
        var expires = new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero);
        var rotated = new ClaudeCredentials(new Secret("sk-ant-oat01-NEWaccess"), new Secret(TestTokens.NewRefresh), expires, ["user:inference"], "pro");

        ClaudeCredentialsFile.Write(path, rotated);

        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var oauth = root["claudeAiOauth"]!.AsObject();
        Assert.Equal("sk-ant-oat01-NEWaccess", (string?)oauth["accessToken"]);
        Assert.Equal(TestTokens.NewRefresh, (string?)oauth["refreshToken"]);
        Assert.Equal(expires.ToUnixTimeMilliseconds(), (long)oauth["expiresAt"]!);
        Assert.Equal(["user:inference"], oauth["scopes"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("max", (string?)oauth["subscriptionType"]); // the CLI's value is kept
        Assert.Equal("default_claude_max_20x", (string?)oauth["rateLimitTier"]);
        Assert.Equal(1790000000000, (long)oauth["refreshTokenExpiresAt"]!);
        Assert.Equal("other-tool-token", (string?)root["mcpOAuth"]!["server-a"]!["accessToken"]);
        Assert.Equal(3, (int)root["version"]!);

        var back = ClaudeCredentialsFile.Read(path);
        Assert.Equal(rotated.AccessToken, back.AccessToken);
        Assert.Equal(rotated.RefreshToken, back.RefreshToken);
        Assert.Equal(expires, back.ExpiresAt);
    }

    [Fact]
    public void Writing_a_new_file_creates_a_readable_owner_only_file_and_folder()
    {
        var path = Path.Combine(_dir.FullName, "nested", ".credentials.json");
        var credentials = new ClaudeCredentials(new Secret(TestTokens.Access), new Secret(TestTokens.Refresh),
            DateTimeOffset.FromUnixTimeMilliseconds(ExpiresMs), ["user:inference"], "max");

        ClaudeCredentialsFile.Write(path, credentials);

        var back = ClaudeCredentialsFile.Read(path);
        Assert.Equal(credentials.AccessToken, back.AccessToken);
        Assert.Equal("max", back.SubscriptionType);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void After_writing_the_mode_is_0600_even_if_it_was_looser()
    {
        if (OperatingSystem.IsWindows()) return; // Unix file modes only
        var path = WriteRaw(ValidJson, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        ClaudeCredentialsFile.Write(path, ClaudeCredentialsFile.Parse(ValidJson, "test"));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Writing_leaves_no_temporary_file_behind()
    {
        var path = WriteRaw(ValidJson);
        var credentials = ClaudeCredentialsFile.Parse(ValidJson, "test");

        for (var i = 0; i < 5; i++)
            ClaudeCredentialsFile.Write(path, credentials);

        Assert.Equal([path], Directory.GetFiles(_dir.FullName));
    }

    [Fact]
    public void Writing_over_a_file_that_is_not_json_replaces_it()
    {
        var path = WriteRaw("garbage from a crashed editor");

        ClaudeCredentialsFile.Write(path, ClaudeCredentialsFile.Parse(ValidJson, "test"));

        Assert.Equal(TestTokens.Refresh, ClaudeCredentialsFile.Read(path).RefreshToken!.Reveal());
    }

    [Fact]
    public void Writing_through_a_symbolic_link_is_refused()
    {
        var target = WriteRaw(ValidJson, name: "real.json");
        var link = PathOf("link.json");
        File.CreateSymbolicLink(link, target);

        var ex = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Write(link, ClaudeCredentialsFile.Parse(ValidJson, "test")));

        AssertSafe(ex, link);
        Assert.Contains("symbolic link", ex.Message);
    }

    [Fact]
    public void A_missing_file_names_its_path()
    {
        var path = PathOf("absent.json");

        var ex = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Read(path));

        AssertSafe(ex, path);
        Assert.Contains("does not exist", ex.Message);
    }

    [Fact]
    public void A_symbolic_link_is_refused()
    {
        var target = WriteRaw(ValidJson, name: "real.json");
        var link = PathOf("link.json");
        File.CreateSymbolicLink(link, target);

        var ex = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Read(link));

        AssertSafe(ex, link);
        Assert.Contains("symbolic link", ex.Message);
    }

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead, "0604")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, "0640")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, "0644")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite, "0620")]
    public void A_file_others_can_access_is_refused(UnixFileMode mode, string octal)
    {
        if (OperatingSystem.IsWindows()) return; // Unix file modes only
        var path = WriteRaw(ValidJson, mode);

        var ex = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Read(path));

        AssertSafe(ex, path);
        Assert.Contains("insecure permissions " + octal, ex.Message);
    }

    [Fact]
    public void Owner_read_only_is_accepted()
    {
        var path = WriteRaw(ValidJson, UnixFileMode.UserRead);
        Assert.Equal("max", ClaudeCredentialsFile.Read(path).SubscriptionType);
    }

    public static TheoryData<string, string> Malformed => new()
    {
        { "", "not valid JSON" },
        { "not json at all", "not valid JSON" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}" """, "not valid JSON" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}" x "refreshToken":"{{{TestTokens.Refresh}}}"}}""", "not valid JSON" },
        { "[1,2]", "not a JSON object" },
        { "{}", "no 'claudeAiOauth' object" },
        { """{"claudeAiOauth":"x"}""", "no 'claudeAiOauth' object" },
        { $$$"""{"claudeAiOauth":{"refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":1}}""", "'claudeAiOauth.accessToken' is missing" },
        { $$$"""{"claudeAiOauth":{"accessToken":"","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":1}}""", "'claudeAiOauth.accessToken' is empty" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"  ","expiresAt":1}}""", "'claudeAiOauth.refreshToken' is empty" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":42,"expiresAt":1}}""", "'claudeAiOauth.refreshToken' is not a string" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}"}}""", "'claudeAiOauth.expiresAt' is missing" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":"soon"}}""", "'claudeAiOauth.expiresAt' is not a number" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":-1}}""", "'claudeAiOauth.expiresAt' is out of range" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":1e30}}""", "'claudeAiOauth.expiresAt' is out of range" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":[]}}""", "'claudeAiOauth.expiresAt' is not a number" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":1,"scopes":7}}""", "'claudeAiOauth.scopes' is not a list" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":null}}""", "'claudeAiOauth.expiresAt' is missing" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":1,"refreshTokenExpiresAt":"later"}}""", "'claudeAiOauth.refreshTokenExpiresAt' is not a number" },
        { $$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":1,"refreshTokenExpiresAt":-5}}""", "'claudeAiOauth.refreshTokenExpiresAt' is out of range" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_name_the_path_and_the_fault_without_token_text(string json, string fault)
    {
        var path = WriteRaw(json);

        var ex = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Read(path));

        AssertSafe(ex, path);
        Assert.Contains(fault, ex.Message);
    }

    [Fact]
    public void A_file_without_a_refresh_token_reads_as_long_lived_credentials()
    {
        // claude setup-token gives an access token only; an access-only file written for a sandbox looks the same.
        var path = WriteRaw($$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","expiresAt":{{{ExpiresMs}}},"scopes":["user:inference"]}}""");

        var credentials = ClaudeCredentialsFile.Read(path);

        Assert.Null(credentials.RefreshToken);
        Assert.Null(credentials.RefreshTokenExpiresAt);
        Assert.Equal(TestTokens.Access, credentials.AccessToken.Reveal());
        Assert.Contains("RefreshToken = null", credentials.ToString(), StringComparison.Ordinal);
        Assert.Null(ClaudeCredentialsFile.Parse($$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":null,"expiresAt":1}}""", "upload").RefreshToken);
    }

    [Fact]
    public void Writing_credentials_without_a_refresh_token_removes_the_old_one()
    {
        var path = WriteRaw(ValidJson);
        var longLived = ClaudeCredentialsFile.Parse($$$"""{"claudeAiOauth":{"accessToken":"{{{TestTokens.Opaque}}}","expiresAt":{{{ExpiresMs}}}}}""", "test");

        ClaudeCredentialsFile.Write(path, longLived);

        var oauth = JsonNode.Parse(File.ReadAllText(path))!["claudeAiOauth"]!.AsObject();
        Assert.False(oauth.ContainsKey("refreshToken"));
        Assert.Equal(TestTokens.Opaque, (string?)oauth["accessToken"]);
        Assert.Equal("max", (string?)oauth["subscriptionType"]);
    }

    [Fact]
    public void Uploads_are_named_by_their_source()
    {
        var ex = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Parse("{}", "HTTP upload"));
        AssertSafe(ex, "HTTP upload");

        var scoped = ClaudeCredentialsFile.Parse($$$"""
            {"claudeAiOauth":{"accessToken":"{{{TestTokens.Access}}}","refreshToken":"{{{TestTokens.Refresh}}}","expiresAt":"1767225600000","scopes":"user:inference user:profile"}}
            """, "HTTP upload");
        Assert.Equal(["user:inference", "user:profile"], scoped.Scopes);
        Assert.Null(scoped.SubscriptionType);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(ExpiresMs), scoped.ExpiresAt);
    }

    [Fact]
    public void The_default_path_is_in_the_home_folder()
    {
        Assert.EndsWith(Path.Combine(".claude", ".credentials.json"), ClaudeCredentialsFile.DefaultPath, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"claudeAiOauth\":{\"accessToken\":\"a\",\"refreshToken\":\"r\",\"expiresAt\":1},\"claudeAiOauth\":{}}")]
    [InlineData("{\"claudeAiOauth\":{\"accessToken\":\"a\",\"accessToken\":\"b\",\"refreshToken\":\"r\",\"expiresAt\":1}}")]
    [InlineData("{\"x\":null,\"x\":null}")]
    public void Duplicate_keys_are_a_clear_refusal(string json)
    {
        var e = Assert.Throws<CredentialsFileException>(() => ClaudeCredentialsFile.Parse(json, "the request body"));
        Assert.Contains("the request body", e.Message);
    }
}
