using System.Reflection;
using System.Text;
using Akka.Configuration;

namespace ActorRefresh.Engine;

/// <summary>
/// The Akka configuration of the engine: the project's hocon.conf (embedded in this assembly) plus the
/// parts that come from settings (connection string, encryption key), and Akka.Persistence.Sql's own
/// reference configuration, which is not loaded by itself.
/// </summary>
public static class EngineHocon
{
    private static readonly Lazy<Config> Embedded = new(() =>
    {
        using var stream = typeof(EngineHocon).Assembly.GetManifestResourceStream("ActorRefresh.Engine.hocon.conf")
            ?? throw new InvalidOperationException("hocon.conf is not embedded in ActorRefresh.Engine.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    /// <summary>The project's hocon.conf.</summary>
    public static Config Defaults => Embedded.Value;

    /// <summary>The settings-derived part: journal and snapshot store connection, and the token encryption key.</summary>
    public static Config Storage(StorageOptions storage, byte[] encryptionKey)
    {
        var (providerName, mapping) = storage.Provider switch
        {
            StorageProvider.PostgreSql => ("PostgreSQL.15", "postgresql"),
            _ => ("SQLite.MS", "sqlite"),
        };
        var connection = Quote(storage.EffectiveConnectionString);
        return ConfigurationFactory.ParseString($$"""
            akka.persistence.journal.sql {
              connection-string = {{connection}}
              provider-name = "{{providerName}}"
              table-mapping = "{{mapping}}"
            }
            akka.persistence.snapshot-store.sql {
              connection-string = {{connection}}
              provider-name = "{{providerName}}"
              table-mapping = "{{mapping}}"
            }
            actor-refresh.token-encryption-key = "{{Convert.ToBase64String(encryptionKey)}}"
            """);
    }

    /// <summary>Everything: settings first, then hocon.conf, then Akka.Persistence.Sql's defaults.</summary>
    public static Config Full(StorageOptions storage, byte[] encryptionKey) =>
        Storage(storage, encryptionKey)
            .WithFallback(Defaults)
            .WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration);

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
