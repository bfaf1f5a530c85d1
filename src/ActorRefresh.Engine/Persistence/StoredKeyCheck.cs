using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

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
    /// carry the key's id (or none yet). Only the SQLite store is read here; with PostgreSQL a wrong key shows at recovery.
    /// </summary>
    public static string? Problem(StorageOptions storage, byte[] key)
    {
        if (storage.Provider != StorageProvider.Sqlite || !string.IsNullOrWhiteSpace(storage.ConnectionString)) return null;
        var file = Path.GetFullPath(Path.Combine(storage.DataDirectory, "actor-refresh.db"));
        if (!File.Exists(file)) return null;
        var expected = TokenCipher.KeyIdOf(key);
        foreach (var stored in StoredKeyIds(file))
        {
            if (stored != expected)
                return $"Stored tokens were encrypted with key id {stored}, but the configured token encryption key has id {expected}: " +
                       $"this is not the key of this store ({TokenEncryptionKey.ConfigurationKey}, or the data folder's {TokenEncryptionKey.KeyFileName}; store '{file}').";
        }
        return null;
    }

    private static IEnumerable<string> StoredKeyIds(string file)
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
