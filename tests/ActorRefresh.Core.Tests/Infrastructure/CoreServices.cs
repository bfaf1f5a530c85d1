using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Core.Tests.Infrastructure;

/// <summary>The core services as a host would build them, with a fake clock and a capturing logger.</summary>
public sealed class CoreServices : IDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public CoreServices(TimeProvider? time = null, IDictionary<string, string?>? settings = null)
    {
        Time = time ?? new FakeTimeProvider(Start);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build();
        var services = new ServiceCollection();
        services.AddSingleton(Time);
        services.AddLogging(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        services.AddActorRefreshCore(configuration);
        Provider = services.BuildServiceProvider();
    }

    public TimeProvider Time { get; }

    public FakeTimeProvider FakeTime => (FakeTimeProvider)Time;

    public CapturingLoggerProvider Logs { get; } = new();

    public ServiceProvider Provider { get; }

    public ITokenEndpointClient Client => Provider.GetRequiredService<ITokenEndpointClient>();

    /// <summary>A Claude-shaped profile pointing at <paramref name="server"/>.</summary>
    public static ProviderProfile ClaudeAt(LoopbackServer server)
    {
        var profile = BuiltInProviders.Claude;
        profile.TokenEndpoint = server.TokenEndpoint;
        return profile;
    }

    public void Dispose() => Provider.Dispose();
}
