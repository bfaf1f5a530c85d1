using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>Snapshots are taken with the default settings, whatever kind of event reaches the interval.</summary>
public sealed class SnapshotTests(ITestOutputHelper output) : EngineTest(output)
{
    /// <summary>Every default setting, SnapshotEvery = 50 among them.</summary>
    protected override EngineOptions Options => new();

    [Fact]
    public async Task Refreshing_past_fifty_events_with_the_default_settings_leaves_a_snapshot_in_the_store()
    {
        // Found by review: snapshots were only considered after outcome events, whose sequence numbers are odd (each
        // refresh journals an intent and an outcome after the registration), so a multiple of 50 was never reached.
        Assert.Equal(50, Options.SnapshotEvery);
        await RegisterAsync("a1");
        const int refreshes = 30; // 1 registration + 2 × 30 events = 61 events
        for (var i = 1; i <= refreshes; i++)
        {
            Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("a1")));
            var expected = i;
            await AwaitAssertAsync(async () => Assert.Equal(expected, (await StatusAsync("a1")).Counters.Refreshes), Wait);
        }
        var status = await StatusAsync("a1");
        Assert.Equal(1 + 2 * refreshes, status.Version);

        // The store is a real SQLite file: read its snapshot table (the write is asynchronous).
        await AwaitAssertAsync(() =>
        {
            var sequenceNumbers = SnapshotSequenceNumbers(AccountIdRules.PersistenceId("a1"));
            Assert.NotEmpty(sequenceNumbers);
            Assert.InRange(sequenceNumbers.Max(), 50, 51);
        }, Wait);
    }

    private List<long> SnapshotSequenceNumbers(string persistenceId)
    {
        using var connection = new SqliteConnection($"Data Source={Store.DatabaseFile};Mode=ReadOnly");
        connection.Open();
        using var tables = connection.CreateCommand();
        tables.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%snapshot%'";
        var table = (string?)tables.ExecuteScalar() ?? throw new InvalidOperationException("no snapshot table in " + Store.DatabaseFile);
        using var query = connection.CreateCommand();
        query.CommandText = $"SELECT sequence_nr FROM \"{table}\" WHERE persistence_id = $id";
        query.Parameters.AddWithValue("$id", persistenceId);
        using var reader = query.ExecuteReader();
        var result = new List<long>();
        while (reader.Read()) result.Add(reader.GetInt64(0));
        return result;
    }
}
