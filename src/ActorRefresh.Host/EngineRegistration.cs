using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host;

/// <summary>The single place where <c>serve</c> adds the engine behind <see cref="ActorRefresh.Hosting.ITokenProvider"/>.</summary>
internal static class EngineRegistration
{
    public static void Add(IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddActorRefresh(configuration);
        // The tool registers no discovery plugin besides Akka's config method; an embedding host may add one (docs/design.md).
        services.AddOptions<ActorRefresh.Engine.Clustering.ClusterOptions>().Validate(
            o => !o.Discovery.Enabled || o.Discovery.UsesConfigEndpoints,
            $"{ActorRefresh.Engine.Clustering.ClusterDiscoveryOptions.Section}:Method: actor-refresh has the '{ActorRefresh.Engine.Clustering.ClusterDiscoveryOptions.ConfigMethod}' discovery method only; another needs a host that registers its Akka.Discovery plugin (docs/design.md).");
    }
}
