using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Opens a connection to the configured store and runs <c>SELECT 1</c>: whether the journal's database answers now.
/// Akka.Persistence's plugin health checks report the plugin, which stays "healthy" while its database is down.
/// </summary>
internal static class StoreProbe
{
    /// <exception cref="DbException">The store did not answer.</exception>
    public static async Task ProbeAsync(StorageOptions storage, CancellationToken cancellationToken)
    {
        await using DbConnection connection = storage.Provider == StorageProvider.PostgreSql
            ? new NpgsqlConnection(storage.EffectiveConnectionString)
            : new SqliteConnection(storage.EffectiveConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }
}
