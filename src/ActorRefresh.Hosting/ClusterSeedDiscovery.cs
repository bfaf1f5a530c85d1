using ActorRefresh.Engine.Clustering;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Discovery.Config.Hosting;
using Akka.Hosting;
using Akka.Management.Cluster.Bootstrap;
using Akka.Management.Dsl;

namespace ActorRefresh.Hosting;

/// <summary>
/// Seed nodes from discovery (<c>ActorRefresh:Cluster:Discovery</c>): Akka.Management's cluster bootstrap over the
/// configured discovery method, with this node's contact point (<see cref="BootstrapContactPoint"/>) on its own address.
/// </summary>
internal static class ClusterSeedDiscovery
{
    /// <summary>Port name of the bootstrap's lookups: also the container port's name a Kubernetes pod would give (docs/design.md).</summary>
    internal const string PortName = "management";

    public static AkkaConfigurationBuilder WithSeedDiscovery(this AkkaConfigurationBuilder builder, ClusterOptions cluster)
    {
        var discovery = cluster.Discovery;
        if (!discovery.Enabled) return builder;
        var method = discovery.Method!.Trim();
        if (discovery.UsesConfigEndpoints)
        {
            builder.WithConfigDiscovery(new ConfigServiceDiscoveryOptions
            {
                Services = [new Service { Name = discovery.ServiceName!, Endpoints = [.. discovery.Endpoints] }],
            });
        }
        var options = new ClusterBootstrapOptions();
        options.ContactPointDiscovery.ServiceName = discovery.ServiceName;
        // A non-empty port name keeps every endpoint: without one the bootstrap keeps only those on this node's
        // management port, and nodes sharing one host (tests, several per VM) differ in port.
        options.ContactPointDiscovery.PortName = PortName;
        options.ContactPointDiscovery.RequiredContactPointsNr = discovery.RequiredContactPoints;
        // Another method is a plugin the embedding host registers (e.g. WithKubernetesDiscovery); config is the default one.
        if (!discovery.UsesConfigEndpoints) options.ContactPointDiscovery.DiscoveryMethod = method;
        // Started below, once the contact point listens, instead of through akka.extensions (which starts Akka.Management's HTTP server).
        builder.WithClusterBootstrap(options, autoStart: false);
        return builder.AddStartup(async (system, _) =>
        {
            if (!discovery.UsesConfigEndpoints && !system.Settings.Config.HasPath($"akka.discovery.{method}.class"))
                throw new ConfigurationException($"{ClusterDiscoveryOptions.Section}:Method '{method}' is no discovery method of this host: '{ClusterDiscoveryOptions.ConfigMethod}' is built in; another needs its Akka.Discovery plugin registered by the host (docs/design.md).");
            var hostname = discovery.EffectiveManagementHostname(cluster.Hostname);
            var contactPoint = BootstrapContactPoint.Start(system, hostname, discovery.ManagementPort);
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseActorSystemTerminate, "actor-refresh-bootstrap-contact-point", () =>
            {
                contactPoint.Dispose();
                return Task.FromResult(Done.Instance);
            });
            var bootstrap = ClusterBootstrap.Get(system);
            // Tells the bootstrap its own contact point (the join decider recognises itself among the discovered ones);
            // the routes it returns are for Akka.Management's server and are not used.
            bootstrap.Routes(ManagementRouteProviderSettings.Create(contactPoint.BaseUri, readOnly: true));
            await bootstrap.Start().ConfigureAwait(false);
        });
    }
}
