using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>An account synced with a Claude <c>.credentials.json</c> that the Claude Code CLI also writes.</summary>
public sealed class CredentialsFileSyncTests(ITestOutputHelper output) : CredentialsFileTest(output)
{
    [Fact]
    public async Task Every_rotation_is_written_back_atomically_keeping_unknown_keys()
    {
        await RegisterSyncedAsync("c1", TimeSpan.FromHours(1));
        var before = Server.Current("c1").RefreshToken;
        // ForceRefresh answers when the refresh starts: wait for the rotated pair itself, not for the file to match the server.
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("c1")));
        await AwaitAssertAsync(() =>
        {
            Assert.Equal(1, Server.RefreshCalls("c1"));
            var written = ClaudeCredentialsFile.Read(CredentialsPath).RefreshToken!.Reveal();
            Assert.NotEqual(before, written);
            Assert.Equal(Server.Current("c1").RefreshToken, written);
        }, Wait);

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

    [Fact]
    public async Task Re_reading_a_synced_dead_grant_never_clears_the_block_and_a_relogin_does()
    {
        // An idle login imported with sync: the access token in the file has expired, and the grant is dead.
        var tokens = await RegisterSyncedExpiredAsync("d1");
        Server.SetPersistentFault("d1", FakeFault.InvalidGrant());
        Assert.IsType<Blocked>(await AskAsync(new GetToken("d1")));
        var blocked = await StatusAsync("d1");
        Assert.Equal(AccountState.PolicyBlocked, blocked.State);
        Assert.Equal(1, Server.RefreshCalls("d1"));

        for (var poll = 1; poll <= 4; poll++)
        {
            await PollOnceAsync();
            var status = await StatusAsync("d1");
            Assert.Equal(AccountState.PolicyBlocked, status.State);
            Assert.Equal(blocked.Version, status.Version); // nothing journaled: the same pair read again changes nothing
        }
        Assert.Equal(1, Server.RefreshCalls("d1"));
        Assert.All(FileReads, result => Assert.Equal("unchanged", result));
        Assert.Equal(tokens.RefreshToken, ClaudeCredentialsFile.Read(CredentialsPath).RefreshToken!.Reveal());

        // A re-login writes a new pair: the next poll adopts it and lifts the dead-grant block, without a refresh.
        Server.SetPersistentFault("d1", null);
        var relogin = Server.RotateExternally("d1");
        WriteFile(relogin);
        await PollOnceAsync();
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("d1")).State), Wait);
        Assert.Equal(relogin.AccessToken, (await TokenAsync("d1")).Value.Reveal());
        Assert.Equal(1, Server.RefreshCalls("d1"));
    }

    [Fact]
    public async Task A_refresh_token_the_account_spent_is_never_adopted_back_from_the_file()
    {
        var first = await RegisterSyncedExpiredAsync("s1");
        Assert.IsType<TokenGranted>(await AskAsync(new GetToken("s1"))); // spends the first refresh token
        var rotated = Server.Current("s1");
        await AwaitAssertAsync(() => Assert.Equal(rotated.RefreshToken, ClaudeCredentialsFile.Read(CredentialsPath).RefreshToken!.Reveal()), Wait);

        // A stale copy comes back (a sync conflict, a restored backup) and claims a later expiry than the account's pair.
        WriteFile(first with { ExpiresAt = rotated.ExpiresAt + TimeSpan.FromHours(1) });
        await PollOnceAsync();
        Assert.Equal("written_back", FileReads[^1]);
        await AwaitAssertAsync(() => Assert.Equal(rotated.RefreshToken, ClaudeCredentialsFile.Read(CredentialsPath).RefreshToken!.Reveal()), Wait);

        // The next refresh spends the account's own latest refresh token: no reuse (checked at the end of every test).
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("s1")));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("s1")), Wait);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("s1")).State), Wait);
        Assert.Equal(Server.Current("s1").AccessToken, (await TokenAsync("s1")).Value.Reveal());
    }


    [Fact]
    public async Task A_folder_swapped_for_a_link_after_import_is_not_followed_and_the_status_says_so()
    {
        if (!OperatingSystem.IsLinux()) return; // openat with O_NOFOLLOW is the Linux write-back
        await RegisterSyncedAsync("l1", TimeSpan.FromHours(1));
        var imported = Server.Current("l1");

        // After the import, the folder holding the file is swapped for a link to a folder elsewhere holding a bait file.
        var folder = Path.GetDirectoryName(CredentialsPath)!;
        var elsewhere = Path.Combine(Store.Directory, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        var bait = Path.Combine(elsewhere, ".credentials.json");
        File.WriteAllText(bait, "{\"bait\":true}");
        File.SetUnixFileMode(bait, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var baitBefore = File.ReadAllBytes(bait);
        Directory.Move(folder, folder + "-moved");
        File.CreateSymbolicLink(folder, elsewhere);

        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("l1")));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.RefreshCalls("l1")), Wait);
        await AwaitAssertAsync(async () => Assert.StartsWith("Credentials file not written", (await StatusAsync("l1")).CredentialsFileError), Wait);
        var status = await StatusAsync("l1");

        // Nothing reached the link's target, and the account serves the rotated token from its journal.
        Assert.Equal(baitBefore, File.ReadAllBytes(bait));
        Assert.Single(Directory.GetFileSystemEntries(elsewhere));
        Assert.Equal(AccountState.Valid, status.State);
        var rotated = Server.Current("l1");
        Assert.NotEqual(imported.RefreshToken, rotated.RefreshToken);
        Assert.Equal(rotated.AccessToken, (await TokenAsync("l1")).Value.Reveal());
        // The error names no path outside the folder and no token.
        Assert.Contains("symbolic link", status.CredentialsFileError);
        Assert.DoesNotContain(Store.Directory, status.CredentialsFileError);
        Assert.DoesNotContain("/", status.CredentialsFileError);
        foreach (var token in new[] { imported.AccessToken, imported.RefreshToken, rotated.AccessToken, rotated.RefreshToken })
            Assert.DoesNotContain(token, status.CredentialsFileError);
        // The file left behind was not written either: it still holds the imported pair.
        Assert.Equal(imported.RefreshToken, ClaudeCredentialsFile.Read(Path.Combine(folder + "-moved", ".credentials.json")).RefreshToken!.Reveal());

        // The folder put back, the next rotation is written and the error clears.
        File.Delete(folder);
        Directory.Move(folder + "-moved", folder);
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("l1")));
        await AwaitAssertAsync(() => Assert.Equal(Server.Current("l1").RefreshToken, ClaudeCredentialsFile.Read(CredentialsPath).RefreshToken!.Reveal()), Wait);
        await AwaitAssertAsync(async () => Assert.Null((await StatusAsync("l1")).CredentialsFileError), Wait);
    }
}

/// <summary>What the credentials-file tests share: the file, registering a synced account, and counting the file reads.</summary>
public abstract class CredentialsFileTest : EngineTest
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<string> _reads = new();

    protected CredentialsFileTest(ITestOutputHelper output) : base(output)
    {
    }

    protected string CredentialsPath => Path.Combine(Store.Directory, "claude", ".credentials.json");

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // Only this engine's meter: other tests run in parallel in the same process.
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, Services.Metrics.Meter) && instrument.Name == "actorrefresh_credentials_file_reads")
                l.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "result") _reads.Enqueue((string)tag.Value!);
        });
        _listener.Start();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _listener.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Results of the credentials-file reads the accounts have acted on, in order.</summary>
    protected IReadOnlyList<string> FileReads => _reads.ToArray();

    /// <summary>Advances one poll interval and waits until the account has acted on what it read.</summary>
    protected async Task PollOnceAsync()
    {
        var before = FileReads.Count;
        Advance(Options.CredentialsFilePollInterval);
        await AwaitAssertAsync(() => Assert.True(FileReads.Count > before, "the poll's read was not acted on"), Wait);
    }

    protected void WriteFile(FakeAccountTokens tokens)
    {
        ClaudeCredentialsFile.Write(CredentialsPath, new ClaudeCredentials(
            new Secret(tokens.AccessToken), new Secret(tokens.RefreshToken), tokens.ExpiresAt, ["user:inference", "user:profile"], "max"));
        // Keys the engine does not own: they must survive every write-back.
        var root = JsonNode.Parse(File.ReadAllText(CredentialsPath))!.AsObject();
        root["claudeAiOauth"]!["rateLimitTier"] = "default_claude_max_20x";
        root["mcpOAuth"] = new JsonObject { ["server"] = "kept" };
        File.WriteAllText(CredentialsPath, root.ToJsonString());
    }

    protected async Task RegisterSyncedAsync(string id, TimeSpan lifetime)
    {
        var tokens = Server.CreateAccount(id);
        var expiresAt = Time.GetUtcNow() + lifetime;
        WriteFile(tokens with { ExpiresAt = expiresAt });
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials(
            id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), expiresAt, CredentialsPath))));
    }

    /// <summary>Registers the account as an import of a synced file whose access token has expired: refresh token only.</summary>
    protected async Task<FakeAccountTokens> RegisterSyncedExpiredAsync(string id)
    {
        var tokens = Server.CreateAccount(id);
        WriteFile(tokens with { ExpiresAt = Time.GetUtcNow() - TimeSpan.FromHours(1) });
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials(
            id, "claude", new Secret(tokens.RefreshToken), null, null, CredentialsPath))));
        return tokens;
    }
}

/// <summary>A synced account backing off with a long backoff (the first retry 5 minutes out): re-reading the file must not cut it short.</summary>
public sealed class CredentialsFileBackoffTests(ITestOutputHelper output) : CredentialsFileTest(output)
{
    protected override BackoffOptions BackoffOptions => new() { Base = TimeSpan.FromMinutes(10), Cap = TimeSpan.FromHours(1) };

    [Theory]
    [InlineData("server_error")]
    [InlineData("rejected")]
    public async Task Re_reading_the_same_file_does_not_reset_a_backoff(string fault)
    {
        await RegisterSyncedExpiredAsync("b1");
        Server.SetPersistentFault("b1", fault == "server_error" ? FakeFault.ServerError(503) : FakeFault.BadRequest("invalid_request", "bad client"));
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("b1")));
        var backingOff = await StatusAsync("b1");
        Assert.Equal(AccountState.BackingOff, backingOff.State);
        Assert.True(backingOff.RetryAt > Time.GetUtcNow() + 4 * Options.CredentialsFilePollInterval);

        for (var poll = 1; poll <= 4; poll++)
        {
            await PollOnceAsync();
            var status = await StatusAsync("b1");
            Assert.Equal(AccountState.BackingOff, status.State);
            Assert.Equal(backingOff.RetryAt, status.RetryAt);
            Assert.Equal(backingOff.Version, status.Version);
        }
        Assert.Equal(1, Server.RefreshCalls("b1"));
        Assert.All(FileReads, result => Assert.Equal("unchanged", result));
    }
}
