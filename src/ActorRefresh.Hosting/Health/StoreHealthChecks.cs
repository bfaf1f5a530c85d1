using System.Data.Common;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Persistence;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ActorRefresh.Hosting.Health;

/// <summary>
/// Readiness checks of the store: <c>store</c> connects to its database (<see cref="StoreProbe"/>); <c>akka-journal</c> and
/// <c>akka-snapshot-store</c> are Akka.Persistence's own plugin checks of the journal and snapshot store the engine's HOCON
/// configures (they report the plugin, not its database). A failing store reports <see cref="HealthStatus.Degraded"/>, not Unhealthy: while the store is
/// out, the engine still serves the tokens it holds (docs/reliability.md), so the node should keep its traffic.
/// </summary>
internal static class StoreHealthChecks
{
    public const string JournalPlugin = "akka.persistence.journal.sql";
    public const string SnapshotStorePlugin = "akka.persistence.snapshot-store.sql";

    public static AkkaConfigurationBuilder WithStoreHealthChecks(this AkkaConfigurationBuilder builder, StorageOptions storage) => builder
        .WithHealthCheck("store", (_, _, ct) => StoreAsync(storage, ct), HealthStatus.Degraded, [ActorRefreshHealthTags.Ready], TimeSpan.FromSeconds(5))
        .WithHealthCheck("akka-journal", (system, _, ct) => JournalAsync(system, ct), HealthStatus.Degraded, [ActorRefreshHealthTags.Ready])
        .WithHealthCheck("akka-snapshot-store", (system, _, ct) => SnapshotStoreAsync(system, ct), HealthStatus.Degraded, [ActorRefreshHealthTags.Ready]);

    private static async Task<HealthCheckResult> StoreAsync(StorageOptions storage, CancellationToken ct)
    {
        try
        {
            await StoreProbe.ProbeAsync(storage, ct).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
        catch (DbException e)
        {
            return HealthCheckResult.Degraded(exception: e);
        }
    }

    private static async Task<HealthCheckResult> JournalAsync(ActorSystem system, CancellationToken ct) =>
        ToResult(await Persistence.Instance.Apply(system).CheckJournalHealthAsync(JournalPlugin, ct).ConfigureAwait(false));

    private static async Task<HealthCheckResult> SnapshotStoreAsync(ActorSystem system, CancellationToken ct) =>
        ToResult(await Persistence.Instance.Apply(system).CheckSnapshotStoreHealthAsync(SnapshotStorePlugin, ct).ConfigureAwait(false));

    // The plugin's description may carry a connection detail; probes are unauthenticated, so only the status goes out (the
    // endpoints print statuses, never descriptions).
    private static HealthCheckResult ToResult(PersistenceHealthCheckResult result) => result.Status switch
    {
        PersistenceHealthStatus.Healthy => HealthCheckResult.Healthy(),
        _ => HealthCheckResult.Degraded(result.Description),
    };
}
