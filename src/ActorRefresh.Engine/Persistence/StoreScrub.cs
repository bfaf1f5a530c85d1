using Akka.Configuration;
using Microsoft.Data.Sqlite;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// After an account's history is deleted, rewrites a SQLite store so the deleted rows' bytes (encrypted tokens) do not
/// stay behind in free pages of the file: SQLite does not overwrite freed space. PostgreSQL reclaims it with its own vacuum.
/// </summary>
internal static class StoreScrub
{
    public static Task RunAsync(Config config) => Task.Run(() =>
    {
        var provider = config.GetString("akka.persistence.journal.sql.provider-name", "");
        if (!provider.StartsWith("SQLite", StringComparison.OrdinalIgnoreCase)) return;
        using var connection = new SqliteConnection(config.GetString("akka.persistence.journal.sql.connection-string", ""));
        connection.Open();
        using var vacuum = connection.CreateCommand();
        vacuum.CommandText = "VACUUM";
        vacuum.ExecuteNonQuery();
    });
}
