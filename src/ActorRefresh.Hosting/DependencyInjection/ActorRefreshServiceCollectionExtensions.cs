using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Files;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Persistence;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Engine.Region;
using ActorRefresh.Hosting;
using ActorRefresh.Hosting.Materialize;
using ActorRefresh.Hosting.Notifications;
using ActorRefresh.Hosting.Tokens;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds ActorRefresh to a host's services.</summary>
public static class ActorRefreshServiceCollectionExtensions
{
    /// <summary>
    /// Adds the whole engine: provider profiles, the token endpoint and usage clients, account pools from
    /// <c>ActorRefresh:Pools</c>, persistence (SQLite by default), an actor system named <c>actor-refresh</c>
    /// with the account region (a shard region when <c>ActorRefresh:Cluster:Enabled</c>),
    /// <see cref="ITokenProvider"/> (tokens), <see cref="IAccountAdmin"/> (accounts), <see cref="IAccountPools"/> (pools) and
    /// <see cref="ClusterStatusReader"/>, and ASP.NET Core health checks tagged
    /// <see cref="ActorRefreshHealthTags.Live"/> and <see cref="ActorRefreshHealthTags.Ready"/> (actor system; store,
    /// journal and snapshot store; cluster membership) for the host's probes.
    /// Options are validated at start with messages that name the configuration key.
    /// </summary>
    public static IServiceCollection AddActorRefresh(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddActorRefreshEngine(configuration);
        // The checks WithActorRefresh registers through Akka.Hosting need the health check service itself.
        services.AddHealthChecks();
        services.AddAkka(ClusterOptions.SystemName, (builder, provider) => builder.WithActorRefresh(provider));
        return services;
    }

    /// <summary>
    /// As <see cref="AddActorRefresh(IServiceCollection, IConfiguration)"/>, then <paramref name="configureEngine"/> on the
    /// engine's options: code has the last word over <c>ActorRefresh:Engine</c>, and the result is validated at start
    /// like configuration (the message names the key).
    /// </summary>
    public static IServiceCollection AddActorRefresh(this IServiceCollection services, IConfiguration configuration, Action<EngineOptions> configureEngine)
    {
        ArgumentNullException.ThrowIfNull(configureEngine);
        services.AddActorRefresh(configuration);
        services.Configure(configureEngine);
        return services;
    }

    /// <summary>
    /// As <see cref="AddActorRefreshEngine(IServiceCollection, IConfiguration)"/>, then <paramref name="configureEngine"/>
    /// on the engine's options (validated at start).
    /// </summary>
    public static IServiceCollection AddActorRefreshEngine(this IServiceCollection services, IConfiguration configuration, Action<EngineOptions> configureEngine)
    {
        ArgumentNullException.ThrowIfNull(configureEngine);
        services.AddActorRefreshEngine(configuration);
        services.Configure(configureEngine);
        return services;
    }

    /// <summary>
    /// Adds what the engine needs except the actor system, for hosts that configure their own
    /// <c>AddAkka</c> and call <see cref="ActorRefreshAkkaExtensions.WithActorRefresh"/> on it.
    /// </summary>
    public static IServiceCollection AddActorRefreshEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddActorRefreshCore(configuration);
        services.AddOptions<EngineOptions>().Bind(configuration.GetSection(EngineOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EngineOptions>>(new DelegateValidator<EngineOptions>(o => o.Validate()));
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section))
            .PostConfigure(o => StorageKeyRing.AddListValues(o, configuration)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>>(new DelegateValidator<StorageOptions>(o => o.Validate()));
        services.AddOptions<ClusterOptions>().Bind(configuration.GetSection(ClusterOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterOptions>>(new DelegateValidator<ClusterOptions>(o => o.Validate()));
        services.AddSingleton<IValidateOptions<StorageOptions>>(provider => new DelegateValidator<StorageOptions>(o =>
        {
            var cluster = provider.GetRequiredService<IOptions<ClusterOptions>>().Value;
            return cluster.Enabled && string.IsNullOrWhiteSpace(o.EncryptionKey)
                ? [$"{StorageOptions.Section}:EncryptionKey is required in cluster mode: every node must read the tokens the others stored."]
                : [];
        }));
        services.AddSingleton(provider =>
        {
            var cluster = provider.GetRequiredService<IOptions<ClusterOptions>>().Value;
            return new EngineServices(
                provider.GetRequiredService<IProviderRegistry>(),
                provider.GetRequiredService<ITokenEndpointClient>(),
                provider.GetRequiredService<IOptions<BackoffOptions>>().Value,
                provider.GetRequiredService<IOptions<EngineOptions>>().Value,
                provider.GetRequiredService<TimeProvider>(),
                usageClient: provider.GetRequiredService<IUsageClient>())
            {
                Cluster = cluster.Enabled ? cluster : null,
            };
        });
        // The generic host must not give up on Akka's coordinated shutdown before it has waited for the refreshes in
        // flight (the host's default is 30 s): allow the drain plus time for the other phases.
        // The host reads these options when it is built, before options are validated at start.
        services.AddOptions<HostOptions>().PostConfigure<IServiceProvider>((host, provider) =>
        {
            TimeSpan drain;
            try
            {
                drain = EngineServices.DrainTimeoutOf(
                    provider.GetRequiredService<IProviderRegistry>(), provider.GetRequiredService<IOptions<EngineOptions>>().Value);
            }
            catch (OptionsValidationException)
            {
                return; // invalid settings stop the start, with the message that names the key
            }
            var needed = drain + HostShutdownMargin;
            if (host.ShutdownTimeout < needed) host.ShutdownTimeout = needed;
        });
        services.AddSingleton(sp => new ClusterStatusReader(sp, sp.GetRequiredService<EngineServices>()));
        services.AddOptions<PoolsOptions>().Configure(o => o.Definitions = AccountPools.Load(configuration, out o.Errors)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PoolsOptions>>(new DelegateValidator<PoolsOptions>(o => o.Errors));
        services.AddSingleton(provider => new AccountPools(provider.GetRequiredService<IOptions<PoolsOptions>>().Value.Definitions));
        services.AddSingleton(provider => StorageKeyRing.Resolve(
            provider.GetRequiredService<IOptions<StorageOptions>>().Value,
            provider.GetRequiredService<ILoggerFactory>().CreateLogger("ActorRefresh.Storage")));
        // One engine object behind the three faces; TryAdd lets a host (or a test) put its own in front first.
        services.TryAddSingleton<TokenProvider>();
        services.TryAddSingleton<ITokenProvider>(provider => provider.GetRequiredService<TokenProvider>());
        services.TryAddSingleton<IAccountAdmin>(provider => provider.GetRequiredService<TokenProvider>());
        services.TryAddSingleton<IAccountPools>(provider => provider.GetRequiredService<TokenProvider>());
        services.AddOptions<NotificationOptions>().Bind(configuration.GetSection(NotificationOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<NotificationOptions>>(new DelegateValidator<NotificationOptions>(o => o.Validate()));
        services.AddSingleton<AccountNoticeHub>();
        services.AddSingleton<IAccountNotices>(provider => provider.GetRequiredService<AccountNoticeHub>());
        services.AddHostedService(provider => provider.GetRequiredService<AccountNoticeHub>());
        services.AddHttpClient(WebhookSender.ClientName, client => client.Timeout = TimeSpan.FromSeconds(10));
        services.AddHostedService<WebhookSender>();
        services.AddOptions<MaterializeOptions>().Configure(o => o.Targets = MaterializedFileTargets.Load(configuration, out o.Errors)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MaterializeOptions>>(new DelegateValidator<MaterializeOptions>(o => o.Errors));
        services.AddHostedService(provider => new MaterializedFiles(
            provider.GetRequiredService<IOptions<MaterializeOptions>>().Value.Targets,
            provider.GetRequiredService<EngineServices>(),
            provider.GetRequiredService<IProviderRegistry>(),
            provider.GetRequiredService<ILogger<MaterializedFiles>>()));
        return services;
    }

    /// <summary>What the host's shutdown timeout allows beyond <see cref="EngineServices.RefreshDrainTimeout"/>: the other shutdown phases (leaving a cluster, stopping the actor system).</summary>
    public static readonly TimeSpan HostShutdownMargin = TimeSpan.FromSeconds(30);

    /// <summary>The pools read from configuration, and what was wrong with the others.</summary>
    private sealed class MaterializeOptions
    {
        public IReadOnlyList<MaterializedFileTarget> Targets = [];
        public IReadOnlyList<string> Errors = [];
    }

    private sealed class PoolsOptions
    {
        public IReadOnlyList<PoolDefinition> Definitions = [];
        public IReadOnlyList<string> Errors = [];
    }

    private sealed class DelegateValidator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var errors = validate(options);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

/// <summary>The token encryption keys in effect: the current one (configured or generated) and the previous ones.</summary>
/// <param name="Key">32 bytes; encrypts and decrypts.</param>
/// <param name="PreviousKeys">32 bytes each; only decrypt (key rotation).</param>
internal sealed record StorageKey(byte[] Key, IReadOnlyList<byte[]> PreviousKeys)
{

    /// <summary>Never prints the key.</summary>
    public override string ToString() => "StorageKey { Key = [redacted] }";
}
