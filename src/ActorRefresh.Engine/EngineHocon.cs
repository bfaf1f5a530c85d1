using System.Reflection;
using System.Text;
using Akka.Configuration;

namespace ActorRefresh.Engine;

/// <summary>
/// The Akka configuration of the engine: the project's hocon.conf (embedded in this assembly) plus the
/// parts that come from settings (connection string, encryption key), and Akka.Persistence.Sql's own
/// reference configuration, which is not loaded by itself.
/// </summary>
internal static class EngineHocon
{
    private static readonly Lazy<Config> Embedded = new(() =>
    {
        using var stream = typeof(EngineHocon).Assembly.GetManifestResourceStream("ActorRefresh.Engine.hocon.conf")
            ?? throw new InvalidOperationException("hocon.conf is not embedded in ActorRefresh.Engine.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    // Akka.Cluster's own reference configuration (its defaults), embedded in its assembly.
    private static readonly Lazy<Config> AkkaClusterReference = new(() =>
    {
        using var stream = typeof(Akka.Cluster.Cluster).Assembly.GetManifestResourceStream("Akka.Cluster.Configuration.Cluster.conf");
        if (stream is null) return Config.Empty;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    /// <summary>The project's hocon.conf.</summary>
    public static Config Defaults => Embedded.Value;

    /// <summary>The settings-derived part: journal and snapshot store connection, and the token encryption keys (current, then previous ones, which only decrypt).</summary>
    public static Config Storage(StorageOptions storage, byte[] encryptionKey, IReadOnlyList<byte[]>? previousKeys = null)
    {
        var previous = string.Join(", ", (previousKeys ?? []).Select(k => Quote(Convert.ToBase64String(k))));
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
            actor-refresh.previous-token-encryption-keys = [{{previous}}]
            """);
    }

    /// <summary>Everything: settings first, then hocon.conf, then Akka.Persistence.Sql's defaults.</summary>
    public static Config Full(StorageOptions storage, byte[] encryptionKey, IReadOnlyList<byte[]>? previousKeys = null) =>
        Storage(storage, encryptionKey, previousKeys)
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
              enable-ssl = {{(cluster.Tls.Configured ? "on" : "off")}}
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
    /// sharding hand-off timeout leaves each entity at least that long to stop. Prepend it to <see cref="Full"/>.
    /// </summary>
    public static Config Shutdown(TimeSpan drain)
    {
        // A shard gives its entities the hand-off timeout minus 5 s to stop (Akka's HandOffStopper): that must cover the drain.
        var handoff = drain + TimeSpan.FromSeconds(5) > TimeSpan.FromMinutes(1) ? drain + TimeSpan.FromSeconds(5) : TimeSpan.FromMinutes(1);
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

    /// <summary>How long a recovering account may wait for its journal before it fails (hocon.conf's <c>recovery-event-timeout</c>).</summary>
    public static TimeSpan RecoveryTimeout =>
        Defaults.GetTimeSpan("akka.persistence.journal.sql.recovery-event-timeout", TimeSpan.FromSeconds(30), allowInfinite: false);

    /// <summary>
    /// Upper estimate of how long the accounts of a lost node stay unreachable with these cluster timings: the failure
    /// detector's acceptable pause and heartbeat interval, the split-brain resolver's <c>stable-after</c>, the
    /// <c>down-removal-margin</c> (the resolver's <c>stable-after</c> when off), then the sharding coordinator's failure
    /// backoff and two of the region's retry intervals to find the shard's new home. A graceful hand-off or a shard
    /// allocated to a joining node takes less.
    /// </summary>
    public static TimeSpan ShardMoveTime(Clustering.ClusterOptions cluster)
    {
        var config = Cluster(cluster)
            .WithFallback(Defaults)
            .WithFallback(Akka.Cluster.Sharding.ClusterSharding.DefaultConfig())
            .WithFallback(AkkaClusterReference.Value);
        TimeSpan Get(string path) => config.GetTimeSpan(path, TimeSpan.Zero, allowInfinite: false);
        var stableAfter = Get("akka.cluster.split-brain-resolver.stable-after");
        var removal = config.GetString("akka.cluster.down-removal-margin", "off") is "off" or "" ? stableAfter : Get("akka.cluster.down-removal-margin");
        return Get("akka.cluster.failure-detector.acceptable-heartbeat-pause")
               + Get("akka.cluster.failure-detector.heartbeat-interval")
               + stableAfter
               + removal
               + Get("akka.cluster.sharding.coordinator-failure-backoff")
               + Get("akka.cluster.sharding.retry-interval") * 2;
    }

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
