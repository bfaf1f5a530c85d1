using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Persistence;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>
/// An account whose journal still holds fields of the <c>v2:</c> format (written before ciphertexts were bound to their
/// account) rewrites its history at recovery: a snapshot under the current key in the current format, the old events
/// and snapshots deleted. Real SQLite journal, rows read by the test.
/// </summary>
public sealed class LegacyRewriteTests(ITestOutputHelper output) : EngineTest(output)
{
    [Fact]
    public async Task An_account_recovered_from_v2_events_is_served_and_its_history_rewritten_bound()
    {
        var tokens = await RegisterAsync("old");
        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        await Task.Yield();
        using (var journal = Open())
        {
            // Every row of the account as the previous version wrote it: v2 fields (key id and field, no account), no accountId.
            foreach (var (table, sequenceNr, payload) in Rows(journal, "old"))
            {
                var json = JsonNode.Parse(payload)!.AsObject();
                json.Remove("accountId");
                foreach (var (field, value) in json.ToList())
                    if (value?.GetValueKind() == System.Text.Json.JsonValueKind.String && value.GetValue<string>().StartsWith("v3:", StringComparison.Ordinal))
                        json[field] = V2(Store.Key, field, new TokenCipher(Store.Key).Decrypt(value.GetValue<string>(), field, "old"));
                Write(journal, table, "old", sequenceNr, json.ToJsonString());
            }
            Assert.All(Rows(journal, "old"), r => Assert.DoesNotContain("\"v3:", r.Payload, StringComparison.Ordinal));
            Assert.Contains(Rows(journal, "old"), r => r.Payload.Contains("\"v2:", StringComparison.Ordinal));
        }

        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
        var granted = Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("old"), Wait));
        Assert.Equal(tokens.AccessToken, granted.Token.Value.Reveal());

        await AwaitAssertAsync(() =>
        {
            using var journal = Open();
            var rows = Rows(journal, "old");
            Assert.DoesNotContain(rows, r => r.Payload.Contains("\"v2:", StringComparison.Ordinal));
            Assert.Contains(rows, r => r.Table.Contains("snapshot", StringComparison.OrdinalIgnoreCase) && r.Payload.Contains($"\"v3:{TokenCipher.KeyIdOf(Store.Key)}:", StringComparison.Ordinal));
        }, Wait, TimeSpan.FromMilliseconds(200));
        Assert.Equal(tokens.AccessToken, Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("old"), Wait)).Token.Value.Reveal());
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection($"Data Source={Store.DatabaseFile};Pooling=False");
        connection.Open();
        return connection;
    }

    // Every journal and snapshot row of the account (tables with a persistence_id and a payload column).
    private static List<(string Table, long SequenceNr, string Payload)> Rows(SqliteConnection connection, string accountId)
    {
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'payload'";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        var rows = new List<(string, long, string)>();
        foreach (var table in tables)
        {
            using var query = connection.CreateCommand();
            query.CommandText = $"SELECT sequence_nr, payload FROM \"{table}\" WHERE persistence_id = $id";
            query.Parameters.AddWithValue("$id", AccountIdRules.PersistenceId(accountId));
            using var reader = query.ExecuteReader();
            while (reader.Read()) rows.Add((table, reader.GetInt64(0), Encoding.UTF8.GetString((byte[])reader.GetValue(1))));
        }
        return rows;
    }

    private static void Write(SqliteConnection connection, string table, string accountId, long sequenceNr, string json)
    {
        using var update = connection.CreateCommand();
        update.CommandText = $"UPDATE \"{table}\" SET payload = $payload WHERE persistence_id = $id AND sequence_nr = $nr";
        update.Parameters.AddWithValue("$payload", Encoding.UTF8.GetBytes(json));
        update.Parameters.AddWithValue("$id", AccountIdRules.PersistenceId(accountId));
        update.Parameters.AddWithValue("$nr", sequenceNr);
        Assert.Equal(1, update.ExecuteNonQuery());
    }

    // A field as the v2 format wrote it: associated data "ActorRefresh.token.v2|<key id>|<field>" (see TokenBindingTests).
    private static string V2(byte[] key, string field, string token)
    {
        var plain = Encoding.UTF8.GetBytes(token);
        var output = new byte[12 + plain.Length + 16];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(output.AsSpan(0, 12), plain, output.AsSpan(12, plain.Length), output.AsSpan(12 + plain.Length),
            Encoding.UTF8.GetBytes($"ActorRefresh.token.v2|{TokenCipher.KeyIdOf(key)}|{field}"));
        return $"v2:{TokenCipher.KeyIdOf(key)}:" + Convert.ToBase64String(output);
    }
}
