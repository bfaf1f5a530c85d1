using ActorRefresh.Engine;
using ActorRefresh.Engine.Region;
using ActorRefresh.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Akka.Hosting;

/// <summary>Akka.Hosting extension that adds the ActorRefresh engine to an actor system.</summary>
public static class ActorRefreshAkkaExtensions
{
    /// <summary>
    /// Adds the engine's configuration (hocon.conf, persistence, serializer, encryption key), routes Akka's
    /// log into Microsoft.Extensions.Logging, and starts the account region, registered as
    /// <see cref="AccountRegionKey"/>. Needs <c>services.AddActorRefreshEngine(configuration)</c>.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorRefresh(this AkkaConfigurationBuilder builder, IServiceProvider provider)
    {
        var storage = provider.GetRequiredService<IOptions<StorageOptions>>().Value;
        var key = provider.GetRequiredService<StorageKey>();
        var services = provider.GetRequiredService<EngineServices>();
        return builder
            .AddHocon(EngineHocon.Full(storage, key.Key), HoconAddMode.Prepend)
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .WithActors((system, registry) =>
            {
                DeadLetterResponder.Start(system);
                var region = system.ActorOf(AccountRegion.SupervisedProps(services), "accounts");
                registry.Register<AccountRegionKey>(region);
            });
    }
}
