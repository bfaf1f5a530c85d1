using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Compares the key id written in the store's token fields with the configured key's id before the engine starts,
/// so a wrong key stops the start with one message instead of failing every account's recovery.
/// </summary>
internal static partial class StoredKeyCheck
{
    // Rows read from each table: with a single key every field carries its id, so a few recent rows suffice.
    private const int RowsRead = 32;

    /// <summary>
    /// The problem with opening <paramref name="storage"/> with <paramref name="key"/>, or null when its token fields
    /// carry the key's id (or none yet). Reads recent rows of the SQLite file or of the PostgreSQL journal and snapshot tables.
    /// </summary>
    public static string? Problem(StorageOptions storage, byte[] key) => Problem(storage, [TokenCipher.KeyIdOf(key)]);

    /// <summary>As <see cref="Problem(StorageOptions, byte[])"/>, accepting fields under any of <paramref name="keyIds"/> (the current key's first).</summary>
    internal static string? Problem(StorageOptions storage, IReadOnlyList<string> keyIds)
    {
        string where;
        IEnumerable<string> stored;
        if (storage.Provider == StorageProvider.PostgreSql)
        {
            if (string.IsNullOrWhiteSpace(storage.ConnectionString)) return null;
            var builder = new NpgsqlConnectionStringBuilder(storage.ConnectionString);
            where = $"PostgreSQL database '{builder.Database}' on {builder.Host}";
            try
            {
                stored = PostgresKeyIds(storage.ConnectionString);
            }
            catch (NpgsqlException)
            {
                return null; // unreachable now: the store's own retries and each account's recovery report it
            }
        }
        else
        {
            if (!string.IsNullOrWhiteSpace(storage.ConnectionString)) return null;
            var file = Path.GetFullPath(Path.Combine(storage.DataDirectory, "actor-refresh.db"));
            if (!File.Exists(file)) return null;
            where = $"the data folder's {TokenEncryptionKey.KeyFileName}; store '{file}'";
            stored = StoredKeyIds(file);
        }
        foreach (var id in stored)
        {
            if (!keyIds.Contains(id, StringComparer.Ordinal))
                return $"Stored tokens were encrypted with key id {id}, but the configured token encryption key has id {keyIds[0]}" +
                       (keyIds.Count > 1 ? $" (previous keys: {string.Join(", ", keyIds.Skip(1))})" : "") +
                       $": this is not the key of this store ({TokenEncryptionKey.ConfigurationKey}" +
                       (storage.Provider == StorageProvider.PostgreSql ? $"; {where})." : $", or {where}).");
        }
        return null;
    }

    private static HashSet<string> PostgresKeyIds(string connectionString)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        var columns = new List<(string Table, string Column)>();
        using (var list = new NpgsqlCommand(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c " +
            "WHERE c.table_schema = current_schema() AND c.data_type = 'bytea' AND EXISTS (SELECT 1 FROM information_schema.columns p " +
            "WHERE p.table_schema = c.table_schema AND p.table_name = c.table_name AND p.column_name = 'persistence_id')", connection))
        using (var reader = list.ExecuteReader())
        {
            while (reader.Read()) columns.Add((reader.GetString(0), reader.GetString(1)));
        }
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (table, column) in columns)
        {
            using var query = new NpgsqlCommand(
                $"SELECT {Quote(column)} FROM {Quote(table)} WHERE {Quote(column)} IS NOT NULL ORDER BY ctid DESC LIMIT {RowsRead}", connection);
            using var reader = query.ExecuteReader();
            while (reader.Read())
                foreach (Match match in KeyIdPattern().Matches(Encoding.UTF8.GetString((byte[])reader.GetValue(0))))
                    ids.Add(match.Groups[1].Value);
        }
        return ids;
    }

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static HashSet<string> StoredKeyIds(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False");
        connection.Open();
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'payload'";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            using var query = connection.CreateCommand();
            query.CommandText = $"SELECT payload FROM \"{table.Replace("\"", "\"\"", StringComparison.Ordinal)}\" ORDER BY rowid DESC LIMIT {RowsRead}";
            using var reader = query.ExecuteReader();
            while (reader.Read())
            {
                if (reader.IsDBNull(0)) continue;
                foreach (Match match in KeyIdPattern().Matches(Encoding.UTF8.GetString((byte[])reader.GetValue(0))))
                    ids.Add(match.Groups[1].Value);
            }
        }
        return ids;
    }

    [GeneratedRegex("\"v[23]:([0-9a-f]{8}):")]
    private static partial Regex KeyIdPattern();
}
