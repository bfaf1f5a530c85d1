using System.Net;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

// In the DI namespace so hosts find the extension without an extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the ActorRefresh core services.</summary>
public static class ActorRefreshCoreServiceCollectionExtensions
{
    /// <summary>
    /// Adds the core services: <see cref="TimeProvider"/> (system clock unless one is registered), the named
    /// HTTP client <c>ActorRefresh.TokenEndpoint</c> (no automatic retries, no redirects, no cookies),
    /// <see cref="BackoffOptions"/> bound from <c>ActorRefresh:Backoff</c>, <see cref="BackoffPolicy"/>,
    /// <see cref="IProviderRegistry"/> from <c>ActorRefresh:Providers</c>, <see cref="ITokenEndpointClient"/> and
    /// <see cref="IUsageClient"/> (its own named client <c>ActorRefresh.Usage</c>, same handler settings).
    /// Backoff and provider settings are validated when the host starts; messages name the offending key.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">Configuration root holding the <c>ActorRefresh</c> section.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddActorRefreshCore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.TryAddSingleton(TimeProvider.System);

        foreach (var name in new[] { TokenEndpointClient.HttpClientName, UsageClient.HttpClientName })
        {
            services.AddHttpClient(name, client =>
                {
                    // The per-provider RequestTimeout governs; HttpClient's own 100 s default would cut it short.
                    client.Timeout = Timeout.InfiniteTimeSpan;
                })
                .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
                {
                    // A redirect would carry the token somewhere else; it is classified instead.
                    AllowAutoRedirect = false,
                    UseCookies = false,
                    AutomaticDecompression = DecompressionMethods.All,
                    PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                });
        }

        services.AddOptions<BackoffOptions>()
            .Bind(configuration.GetSection(BackoffOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BackoffOptions>, BackoffOptionsValidator>());
        services.TryAddSingleton(sp => new BackoffPolicy(sp.GetRequiredService<IOptions<BackoffOptions>>().Value));

        services.AddOptions<ProviderRegistryOptions>()
            .Configure(options => options.Load(configuration))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProviderRegistryOptions>, ProviderRegistryOptionsValidator>());
        services.TryAddSingleton<IProviderRegistry>(sp => new ProviderRegistry(sp.GetRequiredService<IOptions<ProviderRegistryOptions>>().Value));

        services.TryAddSingleton<ITokenEndpointClient, TokenEndpointClient>();
        services.TryAddSingleton<ActorRefresh.Core.Login.CodeExchangeClient>();
        services.TryAddSingleton<ActorRefresh.Core.Login.DeviceLoginClient>();
        services.TryAddSingleton<IUsageClient, UsageClient>();
        return services;
    }
}
