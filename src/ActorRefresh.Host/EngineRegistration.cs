using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host;

/// <summary>
/// The single place where <c>serve</c> adds the engine. It must register
/// <see cref="ActorRefresh.Hosting.ITokenProvider"/> (and whatever the engine needs behind it).
/// </summary>
internal static class EngineRegistration
{
    public static void Add(IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        // ENGINE: replace this comment with `services.AddActorRefresh(configuration);` once the engine's
        // DI extension lands. Until then nothing is registered and `serve` stops with a clear message
        // (ActorRefreshWebHost.Build checks for an ITokenProvider).
    }
}
