using System.Text.Json.Nodes;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>
/// A stored token ciphertext is bound to its account: someone who can write the journal cannot copy account A's
/// encrypted tokens (or A's whole event) into account B's rows and read A's token through B. Real SQLite journal.
/// </summary>
public sealed class AccountBindingTests(ITestOutputHelper output) : EngineTest(output)
{
    [Fact]
    public async Task A_token_ciphertext_copied_from_another_account_is_refused_at_recovery()
    {
        var a = await RegisterAsync("victim");
        await RegisterAsync("attacker");
        var region = await RestartWithJournal(journal =>
        {
            // Copy the victim's encrypted token fields into the attacker's registration, keeping the rest of its event.
            var victim = JsonNode.Parse(ReadPayload(journal, "victim", 1))!;
            var attacker = JsonNode.Parse(ReadPayload(journal, "attacker", 1))!;
            attacker["refreshToken"] = victim["refreshToken"]!.GetValue<string>();
            attacker["accessToken"] = victim["accessToken"]!.GetValue<string>();
            WritePayload(journal, "attacker", 1, attacker.ToJsonString());
        });

        await AssertRefused(region, "attacker", a);
    }

    [Fact]
    public async Task A_whole_event_copied_from_another_account_is_refused_at_recovery()
    {
        var a = await RegisterAsync("victim");
        await RegisterAsync("attacker");
        var region = await RestartWithJournal(journal => WritePayload(journal, "attacker", 1, ReadPayload(journal, "victim", 1)));

        await AssertRefused(region, "attacker", a);
    }

    [Fact]
    public async Task The_account_itself_still_recovers_its_tokens()
    {
        var a = await RegisterAsync("victim");
        var region = await RestartWithJournal(_ => { });
        var granted = Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("victim"), Wait));
        Assert.Equal(a.AccessToken, granted.Token.Value.Reveal());
    }

    private async Task AssertRefused(IActorRef region, string accountId, TestKit.FakeAccountTokens victim)
    {
        object? answer = null;
        await EventFilter.Error(contains: $"Account {accountId}: recovery failed").ExpectOneAsync(async () =>
        {
            try
            {
                answer = await region.Ask<object>(new GetToken(accountId), TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is AskTimeoutException or AccountUnavailableException)
            {
                answer = e;
            }
        });
        Assert.IsNotType<TokenGranted>(answer);
        Assert.DoesNotContain(victim.AccessToken, answer?.ToString() ?? "", StringComparison.Ordinal);
    }

    /// <summary>Stops the accounts, lets <paramref name="tamper"/> change the SQLite journal, and starts a new region over it.</summary>
    private async Task<IActorRef> RestartWithJournal(Action<SqliteConnection> tamper)
    {
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        await Task.Yield();
        using (var connection = new SqliteConnection($"Data Source={Store.DatabaseFile};Pooling=False"))
        {
            connection.Open();
            tamper(connection);
        }
        return Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
    }

    private static string JournalTable(SqliteConnection connection)
    {
        using var tables = connection.CreateCommand();
        tables.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%journal%' AND name NOT LIKE '%tag%' AND name NOT LIKE '%metadata%'";
        return (string?)tables.ExecuteScalar() ?? throw new InvalidOperationException("no journal table");
    }

    private static string ReadPayload(SqliteConnection connection, string accountId, long sequenceNr)
    {
        using var query = connection.CreateCommand();
        query.CommandText = $"SELECT payload FROM \"{JournalTable(connection)}\" WHERE persistence_id = $id AND sequence_nr = $nr";
        query.Parameters.AddWithValue("$id", AccountIdRules.PersistenceId(accountId));
        query.Parameters.AddWithValue("$nr", sequenceNr);
        var payload = (byte[]?)query.ExecuteScalar() ?? throw new InvalidOperationException($"no event {sequenceNr} of {accountId}");
        return System.Text.Encoding.UTF8.GetString(payload);
    }

    private static void WritePayload(SqliteConnection connection, string accountId, long sequenceNr, string json)
    {
        using var update = connection.CreateCommand();
        update.CommandText = $"UPDATE \"{JournalTable(connection)}\" SET payload = $payload WHERE persistence_id = $id AND sequence_nr = $nr";
        update.Parameters.AddWithValue("$payload", System.Text.Encoding.UTF8.GetBytes(json));
        update.Parameters.AddWithValue("$id", AccountIdRules.PersistenceId(accountId));
        update.Parameters.AddWithValue("$nr", sequenceNr);
        Assert.Equal(1, update.ExecuteNonQuery());
    }
}
