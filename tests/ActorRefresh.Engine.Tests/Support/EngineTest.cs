using System.Security.Cryptography;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.TestKit;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Support;

/// <summary>Where one test keeps its SQLite journal and key, and the Akka config over them (virtual-time scheduler).</summary>
public sealed class EngineTestStore
{
    /// <param name="extraHocon">HOCON over the test configuration (a dispatcher deployment, say).</param>
    public EngineTestStore(string? extraHocon = null)
    {
        _extraHocon = extraHocon ?? "";
        Directory = Path.Combine(Path.GetTempPath(), "actorrefresh-engine-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        Storage = new StorageOptions { DataDirectory = Directory };
        Key = RandomNumberGenerator.GetBytes(32);
    }

    private readonly string _extraHocon;

    public string Directory { get; }
    public StorageOptions Storage { get; }
    public byte[] Key { get; }
    public string DatabaseFile => Path.Combine(Directory, "actor-refresh.db");

    public Config Config => ConfigurationFactory.ParseString(_extraHocon)
        .WithFallback(ConfigurationFactory.ParseString("""
            akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
            akka.loglevel = INFO
            """))
        .WithFallback(EngineHocon.Full(Storage, Key));
}

/// <summary>
/// Base of the actor tests: a real SQLite journal in a temp folder, the real token endpoint client, the fake token
/// server on loopback, and one virtual clock (Akka's TestScheduler) for the engine's timers, its "now" and the fake
/// server's expiry and backoff bookkeeping.
/// </summary>
public abstract class EngineTest : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    protected EngineTest(ITestOutputHelper output) : this(new EngineTestStore(), output) { }

    /// <summary>With <paramref name="extraHocon"/> over the test configuration.</summary>
    protected EngineTest(ITestOutputHelper output, string extraHocon) : this(new EngineTestStore(extraHocon), output) { }

    private EngineTest(EngineTestStore store, ITestOutputHelper output) : base(store.Config, "engine-test", output)
    {
        Store = store;
        Time = new SchedulerTimeProvider(Sys.Scheduler);
    }

    protected EngineTestStore Store { get; }
    protected TimeProvider Time { get; }
    protected FakeTokenServer Server { get; private set; } = null!;
    private protected EngineServices Services { get; private set; } = null!;
    protected IActorRef Region { get; private set; } = null!;
    protected TestScheduler Scheduler => (TestScheduler)Sys.Scheduler;

    /// <summary>Tests about refresh-token reuse set this; every other test asserts the fake server saw none.</summary>
    protected bool ExpectReuse { get; set; }

    protected virtual EngineOptions Options => new() { MaxRefreshesPerSecond = 10_000, MaxConcurrentRefreshes = 8 };
    protected virtual BackoffOptions BackoffOptions => new();

    /// <summary>False: the engine gets no usage client (no usage checks), for tests that advance virtual time by days.</summary>
    protected virtual bool UsageChecks => true;

    /// <summary>Settings of the claude provider profile over the test's (keys under <c>ActorRefresh:Providers:claude:</c>).</summary>
    protected virtual IReadOnlyDictionary<string, string?> ProviderSettings { get; } = new Dictionary<string, string?>();

    /// <summary>The provider's RequestTimeout. It runs on the wall clock (HTTP timeouts do not follow the virtual scheduler).</summary>
    protected virtual TimeSpan ProviderRequestTimeout => TimeSpan.FromSeconds(5);

    public virtual async Task InitializeAsync()
    {
        Server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time });
        Services = CreateServices(Server, Time, Options, BackoffOptions, ProviderRequestTimeout, providerSettings: ProviderSettings, usage: UsageChecks);
        Region = Sys.ActorOf(AccountRegion.Props(Services), "accounts");
    }

    public virtual async Task DisposeAsync()
    {
        if (!ExpectReuse) Assert.Equal(0, Server.RefreshTokenReuse);
        Assert.Equal(0, Server.OverlappingRefreshes);
        await Server.DisposeAsync();
        await Services.DisposeAsync();
    }

    /// <summary>Engine services over the real token endpoint client pointed at <paramref name="server"/>.</summary>
    internal static EngineServices CreateServices(FakeTokenServer server, TimeProvider time, EngineOptions options, BackoffOptions backoff, TimeSpan? requestTimeout = null,
        Clustering.ClusterOptions? cluster = null, IReadOnlyDictionary<string, string?>? providerSettings = null, bool usage = true)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:claude:UsageEndpoint"] = server.UsageEndpoint.ToString(),
            ["ActorRefresh:Providers:claude:RequestTimeout"] = (requestTimeout ?? TimeSpan.FromSeconds(5)).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in providerSettings ?? new Dictionary<string, string?>())
            settings["ActorRefresh:Providers:claude:" + key] = value;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var provider = new ServiceCollection().AddLogging().AddSingleton(time).AddActorRefreshCore(configuration).BuildServiceProvider();
        return new EngineServices(
            provider.GetRequiredService<IProviderRegistry>(),
            provider.GetRequiredService<ITokenEndpointClient>(),
            backoff,
            options,
            time,
            random: () => 0.5,
            usageClient: usage ? provider.GetRequiredService<IUsageClient>() : null)
        { Cluster = cluster };
    }

    protected void Advance(TimeSpan by) => Scheduler.Advance(by);

    /// <summary>Advances virtual time in steps so each timer due on the way fires in order.</summary>
    protected void AdvanceInSteps(TimeSpan by, TimeSpan step)
    {
        for (var done = TimeSpan.Zero; done < by; done += step) Scheduler.Advance(step);
    }

    protected async Task<FakeAccountTokens> RegisterAsync(string id, TimeSpan? lifetime = null)
    {
        var tokens = Server.CreateAccount(id);
        var expiresAt = lifetime is { } l ? Time.GetUtcNow() + l : tokens.ExpiresAt;
        var reply = await Region.Ask<object>(new Register(new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), expiresAt)), Wait);
        Assert.IsType<StatusReply>(reply);
        return tokens with { ExpiresAt = expiresAt };
    }

    protected Task<object> AskAsync(object message) => Region.Ask<object>(message, Wait);

    protected async Task<AccountStatus> StatusAsync(string id) =>
        Assert.IsType<StatusReply>(await AskAsync(new GetStatus(id))).Status;

    protected async Task<AccessToken> TokenAsync(string id) =>
        Assert.IsType<TokenGranted>(await AskAsync(new GetToken(id))).Token;
}
