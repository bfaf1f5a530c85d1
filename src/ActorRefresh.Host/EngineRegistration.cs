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
    }
}
