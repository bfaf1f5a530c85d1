using System.Text;
using System.Text.RegularExpressions;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>Removing an account deletes its journaled events and snapshots: no ciphertext of its tokens stays in the store.</summary>
public sealed partial class RemovalTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override EngineOptions Options => new() { MaxRefreshesPerSecond = 10_000, SnapshotEvery = 3 };

    [Fact]
    public async Task Removing_an_account_deletes_its_events_and_snapshots_from_the_sqlite_file()
    {
        await RegisterAsync("gone");
        var kept = await RegisterAsync("kept");
        for (var i = 1; i <= 3; i++) // rotations past the snapshot interval: events and a snapshot hold old refresh tokens
        {
            Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("gone")));
            var expected = i;
            await AwaitAssertAsync(async () => Assert.Equal(expected, (await StatusAsync("gone")).Counters.Refreshes), Wait);
        }
        var ciphertexts = await AwaitCiphertexts("gone", snapshot: true);
        Assert.True(ciphertexts.Count >= 7, $"{ciphertexts.Count} ciphertexts");
        var keptCiphertexts = Ciphertexts("kept", snapshot: false);
        Assert.True(keptCiphertexts.Count >= 2, $"{keptCiphertexts.Count} ciphertexts of the kept account"); // its registration: both tokens

        Assert.IsType<StatusReply>(await AskAsync(new Remove("gone")));

        // The answer comes after the deletion: the rows are gone at once.
        Assert.Empty(Ciphertexts("gone", snapshot: false));
        Assert.Empty(Ciphertexts("gone", snapshot: true));
        // The other account's rows stay, every ciphertext of them.
        Assert.Equal(keptCiphertexts, Ciphertexts("kept", snapshot: false));
        Assert.Equal(kept.AccessToken, (await TokenAsync("kept")).Value.Reveal());
        Assert.IsType<NotRegistered>(await AskAsync(new GetStatus("gone")));

        await Sys.Terminate();
        var file = string.Concat(Directory.GetFiles(Store.Directory, "actor-refresh.db*").Select(f => Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        Assert.All(ciphertexts, c => Assert.DoesNotContain(c, file, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_removed_account_can_be_registered_again_and_recovers_only_its_new_life()
    {
        await RegisterAsync("again");
        Assert.IsType<StatusReply>(await AskAsync(new Remove("again")));
        var tokens = Server.Current("again");
        Assert.IsType<StatusReply>(await AskAsync(new Register(new AccountCredentials("again", "claude",
            new Core.Tokens.Secret(tokens.RefreshToken), new Core.Tokens.Secret(tokens.AccessToken), tokens.ExpiresAt))));
        Assert.Equal(tokens.AccessToken, (await TokenAsync("again")).Value.Reveal());

        // A restart recovers the new registration, not the removed one.
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        var region = Sys.ActorOf(ActorRefresh.Engine.Region.AccountRegion.Props(Services), "accounts-2");
        var status = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("again"), Wait)).Status;
        Assert.Equal(AccountState.Valid, status.State);
    }

    private async Task<List<string>> AwaitCiphertexts(string account, bool snapshot)
    {
        List<string> found = [];
        await AwaitAssertAsync(() =>
        {
            found = Ciphertexts(account, snapshot: false).Concat(Ciphertexts(account, snapshot)).Distinct().ToList();
            Assert.NotEmpty(Ciphertexts(account, snapshot: true));
        }, Wait);
        return found;
    }

    /// <summary>Every encrypted token field in the account's rows of the journal (or snapshot) table.</summary>
    private List<string> Ciphertexts(string account, bool snapshot)
    {
        using var connection = new SqliteConnection($"Data Source={Store.DatabaseFile};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var tables = connection.CreateCommand();
        tables.CommandText = snapshot
            ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%snapshot%'"
            : "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%journal%' AND name NOT LIKE '%tag%' AND name NOT LIKE '%metadata%'";
        var table = (string?)tables.ExecuteScalar();
        if (table is null) return [];
        using var query = connection.CreateCommand();
        query.CommandText = $"SELECT payload FROM \"{table}\" WHERE persistence_id = $id";
        query.Parameters.AddWithValue("$id", AccountIdRules.PersistenceId(account));
        using var reader = query.ExecuteReader();
        var result = new List<string>();
        while (reader.Read())
            result.AddRange(Cipher().Matches(Encoding.UTF8.GetString((byte[])reader.GetValue(0))).Select(m => m.Value));
        return result;
    }

    // The payload is JSON: System.Text.Json writes a base64 '+' as \u002B, so a ciphertext is base64 characters or that escape.
    [GeneratedRegex(@"v[123]:(?:[0-9a-f]{8}:)?(?:[A-Za-z0-9+/=]|\\u002[Bb]){20,}")]
    private static partial Regex Cipher();
}
