using System.Text.Json.Nodes;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>An account synced with a Claude <c>.credentials.json</c> that the Claude Code CLI also writes.</summary>
public sealed class CredentialsFileSyncTests(ITestOutputHelper output) : EngineTest(output)
{
    private string CredentialsPath => Path.Combine(Store.Directory, "claude", ".credentials.json");

    private void WriteFile(FakeAccountTokens tokens)
    {
        ClaudeCredentialsFile.Write(CredentialsPath, new ClaudeCredentials(
            new Secret(tokens.AccessToken), new Secret(tokens.RefreshToken), tokens.ExpiresAt, ["user:inference", "user:profile"], "max"));
        // Keys the engine does not own: they must survive every write-back.
        var root = JsonNode.Parse(File.ReadAllText(CredentialsPath))!.AsObject();
        root["claudeAiOauth"]!["rateLimitTier"] = "default_claude_max_20x";
        root["mcpOAuth"] = new JsonObject { ["server"] = "kept" };
        File.WriteAllText(CredentialsPath, root.ToJsonString());
    }

    private async Task RegisterSyncedAsync(string id, TimeSpan lifetime)
    {
        var tokens = Server.CreateAccount(id);
        var expiresAt = Time.GetUtcNow() + lifetime;
        WriteFile(tokens with { ExpiresAt = expiresAt });
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials(
            id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), expiresAt, CredentialsPath))));
    }

    [Fact]
    public async Task Every_rotation_is_written_back_atomically_keeping_unknown_keys()
    {
        await RegisterSyncedAsync("c1", TimeSpan.FromHours(1));
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("c1")));
        await AwaitAssertAsync(() => Assert.Equal(Server.Current("c1").RefreshToken, ClaudeCredentialsFile.Read(CredentialsPath).RefreshToken.Reveal()), Wait);

        var file = ClaudeCredentialsFile.Read(CredentialsPath);
        Assert.Equal(Server.Current("c1").AccessToken, file.AccessToken.Reveal());
        Assert.Equal(["user:inference", "user:profile"], file.Scopes);
        var root = JsonNode.Parse(File.ReadAllText(CredentialsPath))!;
        Assert.Equal("default_claude_max_20x", (string?)root["claudeAiOauth"]!["rateLimitTier"]);
        Assert.Equal("kept", (string?)root["mcpOAuth"]!["server"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CredentialsPath));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(CredentialsPath)!)); // no temp file left
    }

    [Fact]
    public async Task A_pair_rotated_by_another_program_is_adopted_instead_of_spending_a_consumed_token()
    {
        await RegisterSyncedAsync("c1", TimeSpan.FromMinutes(2)); // inside the lead: the next request refreshes
        var cli = Server.RotateExternally("c1"); // the CLI refreshed first and wrote the file
        WriteFile(cli);

        var token = await TokenAsync("c1");
        Assert.Equal(cli.AccessToken, token.Value.Reveal());
        Assert.Equal(0, Server.RefreshCalls("c1")); // adopted, no upstream call, no reuse
    }

    [Fact]
    public async Task The_file_is_watched_while_the_account_is_idle()
    {
        await RegisterSyncedAsync("c1", TimeSpan.FromHours(1));
        var cli = Server.RotateExternally("c1");
        WriteFile(cli);

        Advance(Options.CredentialsFilePollInterval);
        await AwaitAssertAsync(() =>
        {
            Assert.True(Services.ReadSide.TryGetFreshToken("c1", out var fresh));
            Assert.Equal(cli.AccessToken, fresh.Value.Reveal());
        }, Wait);
        Assert.Equal(0, Server.RefreshCalls("c1"));

        // The next rotation spends the adopted refresh token: no reuse.
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("c1")));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.RefreshCalls("c1")), Wait);
    }

    [Fact]
    public async Task A_concurrent_external_rotation_is_recovered_from_the_file()
    {
        ExpectReuse = true; // both programs spent the same refresh token at the same instant: one must lose
        await RegisterSyncedAsync("c1", TimeSpan.FromMinutes(2));
        Server.Script("c1", FakeFault.Delay(TimeSpan.FromMilliseconds(300)));
        var asking = AskAsync(new GetToken("c1"));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("c1")), Wait);
        var cli = Server.RotateExternally("c1"); // the CLI wins the race while our request waits upstream
        WriteFile(cli);

        Assert.IsType<Blocked>(await asking); // our refresh token was consumed: invalid_grant
        Advance(Options.CredentialsFilePollInterval);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("c1")).State), Wait);
        Assert.Equal(cli.AccessToken, (await TokenAsync("c1")).Value.Reveal());
        Assert.Equal(1, Server.RefreshTokenReuse);
    }
}
