using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Benchmarks.Infra;

/// <summary>
/// The one upstream every contender talks to: a fake token server on loopback and the project's real
/// <see cref="ITokenEndpointClient"/> against it, wrapped in a <see cref="CountingTokenClient"/>.
/// </summary>
public sealed class Upstream : IAsyncDisposable
{
    private readonly ServiceProvider _core;

    private Upstream(FakeTokenServer server, ServiceProvider core, ProviderProfile profile, CountingTokenClient client)
    {
        Server = server;
        _core = core;
        Profile = profile;
        Client = client;
    }

    /// <summary>The fake token server.</summary>
    public FakeTokenServer Server { get; }

    /// <summary>The Claude provider profile pointed at the fake server.</summary>
    public ProviderProfile Profile { get; }

    /// <summary>The shared token endpoint client (counting in-flight calls).</summary>
    public CountingTokenClient Client { get; }

    /// <summary>Configuration keys that point the Claude provider at the fake server.</summary>
    public Dictionary<string, string?> ProviderSettings() => ProviderSettings(Server);

    private static Dictionary<string, string?> ProviderSettings(FakeTokenServer server) => new()
    {
        ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
        ["ActorRefresh:Providers:claude:UsageEndpoint"] = server.UsageEndpoint.ToString(),
        ["ActorRefresh:Providers:claude:RequestTimeout"] = "00:00:30",
    };

    /// <summary>Starts the fake server (system clock) and the client.</summary>
    public static async Task<Upstream> StartAsync(TimeSpan latency, TimeSpan? lifetime = null, int limitInFlight = int.MaxValue)
    {
        var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions
        {
            Latency = latency,
            AccessTokenLifetime = lifetime ?? TimeSpan.FromHours(8),
        });
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(ProviderSettings(server)).Build();
        var core = new ServiceCollection().AddLogging().AddActorRefreshCore(configuration).BuildServiceProvider();
        core.GetRequiredService<IProviderRegistry>().TryGet("claude", out var profile);
        var client = new CountingTokenClient(core.GetRequiredService<ITokenEndpointClient>(), limitInFlight);
        return new Upstream(server, core, profile!, client);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await _core.DisposeAsync();
    }
}

/// <summary>
/// Decorates the token endpoint client: counts calls, outcomes, calls in flight (and their peak) and calls started
/// while <see cref="Limit"/> were already in flight (which a provider enforcing that limit would answer with 429).
/// </summary>
public sealed class CountingTokenClient(ITokenEndpointClient inner, int limit) : ITokenEndpointClient
{
    private int _inFlight;
    private int _peak;
    private int _calls;
    private int _overLimit;
    private int _rateLimited;
    private int _failed;

    /// <summary>In-flight limit the provider is assumed to enforce.</summary>
    public int Limit { get; set; } = limit;

    /// <summary>Calls started.</summary>
    public int Calls => Volatile.Read(ref _calls);
    /// <summary>Peak calls in flight.</summary>
    public int PeakInFlight => Volatile.Read(ref _peak);
    /// <summary>Calls started while <see cref="Limit"/> were in flight.</summary>
    public int OverLimit => Volatile.Read(ref _overLimit);
    /// <summary>Calls answered 429.</summary>
    public int RateLimited => Volatile.Read(ref _rateLimited);
    /// <summary>Calls answered with anything but a token or a 429.</summary>
    public int Failed => Volatile.Read(ref _failed);

    /// <summary>Zeroes the counters.</summary>
    public void Reset()
    {
        _peak = Volatile.Read(ref _inFlight);
        _calls = 0;
        _overLimit = 0;
        _rateLimited = 0;
        _failed = 0;
    }

    /// <inheritdoc />
    public async Task<RefreshOutcome> RefreshAsync(ProviderProfile provider, Secret refreshToken, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        var now = Interlocked.Increment(ref _inFlight);
        if (now > Limit) Interlocked.Increment(ref _overLimit);
        var peak = Volatile.Read(ref _peak);
        while (now > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peak, now, peak);
            if (seen == peak) break;
            peak = seen;
        }
        try
        {
            var outcome = await inner.RefreshAsync(provider, refreshToken, cancellationToken).ConfigureAwait(false);
            if (outcome is RefreshOutcome.RateLimited) Interlocked.Increment(ref _rateLimited);
            else if (outcome is not RefreshOutcome.Refreshed) Interlocked.Increment(ref _failed);
            return outcome;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
