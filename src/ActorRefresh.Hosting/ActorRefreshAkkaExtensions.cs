using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Region;
using Akka;
using Akka.Actor;
using ActorRefresh.Hosting;
using ActorRefresh.Hosting.Health;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Akka.Pattern;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Akka.Hosting;

/// <summary>Akka.Hosting extension that adds the ActorRefresh engine to an actor system.</summary>
public static class ActorRefreshAkkaExtensions
{
    /// <summary>Sharding's type name of the account entities.</summary>
    public const string ShardTypeName = "account";

    /// <summary>
    /// Adds the engine's configuration (hocon.conf, persistence, serializer, encryption key), routes Akka's
    /// log into Microsoft.Extensions.Logging, and starts the account region, registered as
    /// <see cref="AccountRegionKey"/>, and the directory, registered as <see cref="AccountDirectoryKey"/>.
    /// Standalone (the default) the region is a local parent that is its own directory. With
    /// <c>ActorRefresh:Cluster:Enabled</c> the node joins the cluster: the region is a shard region of the same account
    /// actors (remembered entities, DData coordinator state), the directory a cluster singleton, and every node keeps a
    /// read side replica the accounts publish their fresh tokens to.
    /// Needs <c>services.AddActorRefreshEngine(configuration)</c>.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorRefresh(this AkkaConfigurationBuilder builder, IServiceProvider provider)
    {
        var storage = provider.GetRequiredService<IOptions<StorageOptions>>().Value;
        var key = provider.GetRequiredService<StorageKey>();
        var services = provider.GetRequiredService<EngineServices>();
        builder
            .AddHocon(EngineHocon.Full(storage, key.Key, key.PreviousKeys), HoconAddMode.Prepend)
            .AddHocon(EngineHocon.Shutdown(services.RefreshDrainTimeout), HoconAddMode.Prepend)
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .WithActorSystemLivenessCheck(tags: [ActorRefreshHealthTags.Live])
            .WithStoreHealthChecks(storage);
        if (services.Cluster is not { } cluster)
        {
            return builder.WithActors((system, registry) =>
            {
                DeadLetterResponder.Start(system);
                var region = system.ActorOf(AccountRegion.SupervisedProps(services), "accounts");
                registry.Register<AccountRegionKey>(region);
                // On shutdown (SIGTERM), let refreshes in flight journal their outcome before actors stop:
                // a rotated pair is never dropped by a clean stop. The phase's timeout is the drain timeout (EngineHocon.Shutdown).
                CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "actor-refresh-drain", async () =>
                {
                    await region.Ask<AccountProtocol.Drained>(AccountProtocol.DrainAll.Instance, services.RefreshDrainTimeout);
                    return Done.Instance;
                });
                registry.Register<AccountDirectoryKey>(region);
            });
        }

        // TLS between nodes (validated at start, ClusterTlsOptions.Validate): given as a setup, which carries the validator.
        if (cluster.Tls.Configured) builder.AddSetup(ClusterTls.CreateSetup(cluster.Tls));
        return builder
            .AddHocon(EngineHocon.Cluster(cluster), HoconAddMode.Prepend)
            .WithSeedDiscovery(cluster)
            .WithAkkaClusterReadinessCheck(tags: [ActorRefreshHealthTags.Ready])
            .WithActors(new ActorStarter(async (system, registry) =>
            {
                system.ActorOf(ReadSideReplica.Props(services.ReadSide, services.Time), ReadSideReplica.Name);
                var sharding = ClusterSharding.Get(system);
                var settings = ClusterShardingSettings.Create(system);
                // The hand-off (graceful leave, rebalance) stops entities with StopAccount, not sharding's default PoisonPill:
                // a PoisonPill stops the account's backoff supervisor at once, and with it an account whose provider may have
                // rotated already, losing the new pair. StopAccount is the supervisor's final-stop message: it is passed to the
                // account, which stops once a refresh in flight has journaled its outcome, and the supervisor follows it.
                var region = await sharding.StartAsync(
                    ShardTypeName,
                    entityId => AccountRegion.SupervisedAccountProps(entityId, services),
                    settings,
                    new AccountMessageExtractor(cluster.ShardCount),
                    sharding.DefaultShardAllocationStrategy(settings),
                    StopAccount.Instance).ConfigureAwait(false);
                registry.Register<AccountRegionKey>(region);

                var options = services.Options;
                var directory = BackoffSupervisor.Props(Backoff.OnStop(
                    AccountDirectory.Props(region, services), "directory", options.RestartMinBackoff, options.RestartMaxBackoff, 0.2, -1));
                system.ActorOf(ClusterSingletonManager.Props(directory, PoisonPill.Instance,
                    ClusterSingletonManagerSettings.Create(system).WithSingletonName("singleton")), AccountDirectory.Name);
                var proxy = system.ActorOf(ClusterSingletonProxy.Props("/user/" + AccountDirectory.Name,
                    ClusterSingletonProxySettings.Create(system).WithSingletonName("singleton")), AccountDirectory.Name + "-proxy");
                registry.Register<AccountDirectoryKey>(proxy);
            }));
    }
}
