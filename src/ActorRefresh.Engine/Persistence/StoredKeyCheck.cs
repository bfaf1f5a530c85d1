using Microsoft.Data.Sqlite;
using Npgsql;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Counts the store's rows per encryption key id and compares them with the configured key ring before the engine
/// starts, so a wrong key stops the start with one message instead of failing every account's recovery.
/// </summary>
internal static class StoredKeyCheck
{
    /// <summary>How long the check waits for PostgreSQL to accept a connection at most (the connection string's <c>Timeout</c> when shorter).</summary>
    public static readonly TimeSpan PostgresConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Label of rows whose token fields are <c>v1:</c> (no key id).</summary>
    public const string NoKeyId = "v1";

    /// <summary>What the store holds: where it is, and its rows per key id (<see cref="NoKeyId"/> for <c>v1:</c> rows).</summary>
    /// <param name="Where">The store, for messages ("the SQLite file '…'", "PostgreSQL database 'x' on host").</param>
    /// <param name="Rows">Rows with token fields, per key id; a row's fields are written together, so under one key.</param>
    internal sealed record Inventory(string Where, IReadOnlyDictionary<string, long> Rows);

    /// <summary>
    /// The problem with opening <paramref name="storage"/> with <paramref name="key"/>, or null when its token fields
    /// carry the key's id (or none yet).
    /// </summary>
    public static string? Problem(StorageOptions storage, byte[] key) => Problem(storage, [TokenCipher.KeyIdOf(key)]);

    /// <summary>
    /// As <see cref="Problem(StorageOptions, byte[])"/>, accepting rows under any of <paramref name="keyIds"/> (the current
    /// key's first, then the previous keys'). Null as well when PostgreSQL cannot be reached now: the store's own retries
    /// and each account's recovery report that.
    /// </summary>
    internal static string? Problem(StorageOptions storage, IReadOnlyList<string> keyIds)
    {
        Inventory? inventory;
        try
        {
            inventory = Read(storage);
        }
        catch (NpgsqlException)
        {
            return null;
        }
        if (inventory is null) return null;
        var unknown = inventory.Rows.Where(r => r.Key != NoKeyId && !keyIds.Contains(r.Key, StringComparer.Ordinal))
            .OrderByDescending(r => r.Value).ToList();
        if (unknown.Count == 0) return null;
        var found = string.Join(", ", unknown.Select(r => $"{r.Key} ({r.Value} {(r.Value == 1 ? "row" : "rows")})"));
        return $"Stored tokens were encrypted with key {(unknown.Count == 1 ? "id" : "ids")} {found}, but no configured key has " +
               $"{(unknown.Count == 1 ? "that id" : "these ids")}: the configured token encryption key has id {keyIds[0]}" +
               (keyIds.Count > 1 ? $" and the previous keys have ids {string.Join(", ", keyIds.Skip(1))}" : ", and no previous key is configured") +
               $". This is not the key of this store ({TokenEncryptionKey.ConfigurationKey}" +
               (storage.Provider == StorageProvider.Sqlite ? $" or the data folder's {TokenEncryptionKey.KeyFileName}" : "") +
               $", {TokenEncryptionKey.PreviousKeysSetting} or {TokenEncryptionKey.PreviousKeyFilesSetting}; {inventory.Where}).";
    }

    /// <summary>
    /// Every row of the journal and snapshot tables counted by key id; null when there is no store yet (no SQLite file,
    /// or a SQLite connection string of the operator's own, which is not read here).
    /// </summary>
    /// <exception cref="NpgsqlException">PostgreSQL cannot be reached or read.</exception>
    internal static Inventory? Read(StorageOptions storage)
    {
        if (storage.Provider == StorageProvider.PostgreSql)
        {
            if (string.IsNullOrWhiteSpace(storage.ConnectionString)) return null;
            var builder = new NpgsqlConnectionStringBuilder(storage.ConnectionString);
            // Npgsql waits 15 s by default for a server that does not answer; the start should not.
            builder.Timeout = Math.Min(builder.Timeout, (int)PostgresConnectTimeout.TotalSeconds);
            return new Inventory($"PostgreSQL database '{builder.Database}' on {builder.Host}", PostgresRows(builder.ConnectionString));
        }
        if (!string.IsNullOrWhiteSpace(storage.ConnectionString)) return null;
        var file = Path.GetFullPath(Path.Combine(storage.DataDirectory, "actor-refresh.db"));
        if (!File.Exists(file)) return null;
        return new Inventory($"the SQLite file '{file}'", SqliteRows(file));
    }

    // The key id of a row: the 8 characters after the first "v3: or "v2: of its payload (its fields share one key), or v1.
    // Computed in the database, so the payloads are not sent to this process.
    private const string SqliteKeyOf = """
        CASE WHEN instr(p, CAST('"v3:' AS BLOB)) > 0 THEN CAST(substr(p, instr(p, CAST('"v3:' AS BLOB)) + 4, 8) AS TEXT)
             WHEN instr(p, CAST('"v2:' AS BLOB)) > 0 THEN CAST(substr(p, instr(p, CAST('"v2:' AS BLOB)) + 4, 8) AS TEXT)
             WHEN instr(p, CAST('"v1:' AS BLOB)) > 0 THEN 'v1' END
        """;

    private const string PostgresKeyOf = """
        CASE WHEN position(decode('2276333a', 'hex') in p) > 0 THEN encode(substring(p from position(decode('2276333a', 'hex') in p) + 4 for 8), 'escape')
             WHEN position(decode('2276323a', 'hex') in p) > 0 THEN encode(substring(p from position(decode('2276323a', 'hex') in p) + 4 for 8), 'escape')
             WHEN position(decode('2276313a', 'hex') in p) > 0 THEN 'v1' END
        """;

    private static Dictionary<string, long> PostgresRows(string connectionString)
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
        var rows = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (table, column) in columns)
        {
            using var query = new NpgsqlCommand(
                $"SELECT k, count(*) FROM (SELECT {PostgresKeyOf} AS k FROM (SELECT {Quote(column)} AS p FROM {Quote(table)}) t) r WHERE k IS NOT NULL GROUP BY k",
                connection);
            using var reader = query.ExecuteReader();
            while (reader.Read()) Add(rows, reader.GetString(0), reader.GetInt64(1));
        }
        return rows;
    }

    private static Dictionary<string, long> SqliteRows(string file)
    {
        // Read-write (never create: the file exists) although it only reads: after a crash the first connection may have to
        // rebuild the WAL index, which a read-only one cannot ("attempt to write a readonly database").
        using var connection = new SqliteConnection($"Data Source={file};Mode=ReadWrite;Pooling=False");
        connection.Open();
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'payload'";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        var rows = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            using var query = connection.CreateCommand();
            query.CommandText = $"SELECT k, count(*) FROM (SELECT {SqliteKeyOf} AS k FROM (SELECT payload AS p FROM {Quote(table)})) WHERE k IS NOT NULL GROUP BY k";
            using var reader = query.ExecuteReader();
            while (reader.Read()) Add(rows, reader.GetString(0), reader.GetInt64(1));
        }
        return rows;
    }

    // A match that is not 8 hex digits is some other text that happens to contain the marker, not a token field.
    private static void Add(Dictionary<string, long> rows, string keyId, long count)
    {
        if (keyId != NoKeyId && (keyId.Length != 8 || !keyId.All(char.IsAsciiHexDigitLower))) return;
        rows[keyId] = rows.GetValueOrDefault(keyId) + count;
    }

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
