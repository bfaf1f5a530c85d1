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

    /// <summary>
    /// Cluster mode: remoting on <see cref="Clustering.ClusterOptions.Hostname"/>:<see cref="Clustering.ClusterOptions.Port"/>, the seed nodes,
    /// roles, the default split-brain resolver (keep-majority), sharding with DData coordinator state and remember-entities
    /// kept in the journal (no durable DData store on disk), and the chosen timings. Prepend it to <see cref="Full"/>.
    /// </summary>
    public static Config Cluster(Clustering.ClusterOptions cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var seeds = string.Join(", ", cluster.SeedAddresses.Select(Quote));
        var roles = string.Join(", ", cluster.Roles.Select(Quote));
        var config = ConfigurationFactory.ParseString($$"""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp {
              hostname = {{Quote(cluster.Hostname)}}
              port = {{cluster.Port}}
            }
            akka.cluster {
              seed-nodes = [{{seeds}}]
              roles = [{{roles}}]
            }
            """);
        var timings = Defaults.GetConfig(cluster.Timings == Clustering.ClusterTimings.Test
            ? "actor-refresh.cluster-timings.test"
            : "actor-refresh.cluster-timings.production");
        return config.WithFallback(timings ?? Config.Empty);
    }

    /// <summary>
    /// The shutdown timings: the coordinated-shutdown phases that wait for refreshes in flight (standalone: the drain in
    /// <c>service-requests-done</c>; cluster: the shard hand-off in <c>cluster-sharding-shutdown-region</c>) get
    /// <paramref name="drain"/> (see <see cref="EngineServices.RefreshDrainTimeout"/>) instead of Akka's 5 s and 10 s, and the
    /// sharding hand-off timeout is at least that long. Prepend it to <see cref="Full"/>.
    /// </summary>
    public static Config Shutdown(TimeSpan drain)
    {
        var handoff = drain > TimeSpan.FromMinutes(1) ? drain : TimeSpan.FromMinutes(1);
        return ConfigurationFactory.ParseString($$"""
            akka.coordinated-shutdown.phases {
              service-requests-done.timeout = {{Milliseconds(drain)}}
              cluster-sharding-shutdown-region.timeout = {{Milliseconds(drain)}}
            }
            akka.cluster.sharding.handoff-timeout = {{Milliseconds(handoff)}}
            """);
    }

    private static string Milliseconds(TimeSpan value) =>
        ((long)Math.Ceiling(value.TotalMilliseconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) + "ms";

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
