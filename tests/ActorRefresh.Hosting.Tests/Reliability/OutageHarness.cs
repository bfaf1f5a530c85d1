using System.Collections.Concurrent;
using System.Security.Cryptography;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Hosting.Tokens;
using ActorRefresh.TestKit;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Hosting;
using Akka.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Hosting.Tests.Reliability;

/// <summary>
/// The engine as the host runs it (the supervised region, the real <see cref="TokenProvider"/>, the real token client
/// against the fake token server) over a given store, on Akka's virtual-time scheduler, counting account restarts.
/// </summary>
public abstract class OutageHarness : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    protected OutageHarness(StorageOptions storage, ITestOutputHelper output)
        : base(ConfigFor(storage), "outage", output)
    {
        Storage = storage;
        Time = new SchedulerTimeProvider(Sys.Scheduler);
    }

    protected StorageOptions Storage { get; }
    protected TimeProvider Time { get; }
    protected FakeTokenServer Server { get; private set; } = null!;
    private protected EngineServices Services { get; private set; } = null!;
    protected IActorRef Region { get; private set; } = null!;
    private protected TokenProvider Tokens { get; private set; } = null!;
    protected TestScheduler Scheduler => (TestScheduler)Sys.Scheduler;

    /// <summary>Account failures logged by the engine ("journal write failed" / "recovery failed"), per account id.</summary>
    protected ConcurrentDictionary<string, int> Restarts { get; } = new(StringComparer.Ordinal);

    protected static EngineOptions EngineOptions => new() { MaxRefreshesPerSecond = 10_000, AskTimeout = TimeSpan.FromSeconds(20) };

    private static Config ConfigFor(StorageOptions storage) => ConfigurationFactory.ParseString("""
            akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
            akka.loglevel = INFO
            """)
        .WithFallback(EngineHocon.Full(storage, RandomNumberGenerator.GetBytes(32)));

    /// <summary>Starts whatever the store needs; called before the region starts.</summary>
    protected virtual Task StartStoreAsync() => Task.CompletedTask;

    public virtual async Task InitializeAsync()
    {
        await StartStoreAsync();
        Server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time });
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = Server.TokenEndpoint.ToString(),
            // The longest allowed: the virtual clock runs at up to 50 s per wall second while callers wait (AskAllAsync),
            // so a 5 s timeout gave a loopback call and its journal writes 200 ms of wall time; on a loaded machine the
            // call was given up after the server had rotated, and the account rightly blocked on the lost answer.
            ["ActorRefresh:Providers:claude:RequestTimeout"] = "00:05:00",
        }).Build();
        var provider = new ServiceCollection().AddLogging().AddSingleton(Time).AddActorRefreshCore(configuration).BuildServiceProvider();
        Services = new EngineServices(provider.GetRequiredService<IProviderRegistry>(), provider.GetRequiredService<ITokenEndpointClient>(),
            new BackoffOptions(), EngineOptions, Time, random: () => 0.5);
        var counter = Sys.ActorOf(Props.Create(() => new RestartCounter(Restarts)));
        Sys.EventStream.Subscribe(counter, typeof(Error));
        DeadLetterResponder.Start(Sys);
        Region = Sys.ActorOf(AccountRegion.SupervisedProps(Services), "accounts");
        Tokens = new TokenProvider(new Fixed<AccountRegionKey>(Region), new Fixed<AccountDirectoryKey>(Region), Services, new ActorRefresh.Engine.Pools.AccountPools());
    }

    public virtual async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Services.DisposeAsync();
    }

    protected async Task<FakeAccountTokens> RegisterAsync(string id, TimeSpan lifetime)
    {
        var tokens = Server.CreateAccount(id);
        await Tokens.RegisterAsync(new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), Time.GetUtcNow() + lifetime));
        return tokens with { ExpiresAt = Time.GetUtcNow() + lifetime };
    }

    /// <summary>A token, or the typed failure, of every account at once.</summary>
    /// <remarks>
    /// Time goes on while callers wait: while answers are outstanding the virtual clock moves a second every 20 ms, so
    /// the engine's own timeouts (e.g. a recovery that cannot read its store) run as they would on a real clock.
    /// </remarks>
    protected async Task<(string Id, AccessToken? Token, Exception? Error)[]> AskAllAsync(IEnumerable<string> ids)
    {
        var all = Task.WhenAll(ids.Select(async id =>
        {
            try
            {
                return (id, (AccessToken?)await Tokens.GetTokenAsync(id), (Exception?)null);
            }
            catch (ActorRefreshException e)
            {
                return (id, null, e);
            }
        }));
        while (await Task.WhenAny(all, Task.Delay(20)) != all) Scheduler.Advance(TimeSpan.FromSeconds(1));
        return await all;
    }

    protected async Task<AccountStatus> StatusAsync(string id) => await Tokens.GetStatusAsync(id);

    /// <summary>
    /// The outage scenario both stores share. Accounts: "steady" (token valid for an hour), "due" (its refresh falls in the
    /// outage; the token stays valid throughout), "expiring" (refresh and expiry both fall in the outage). The store goes
    /// away for 16 virtual minutes — several refresh cycles — while callers ask every 30 s and one new account tries to
    /// register; then it returns.
    /// </summary>
    protected async Task RunOutageScenarioAsync(Action outageOn, Action outageOff, ITestOutputHelper output)
    {
        var start = Time.GetUtcNow();
        var issued = new Dictionary<string, FakeAccountTokens>(StringComparer.Ordinal);
        foreach (var (prefix, lifetime) in new[] { ("steady", TimeSpan.FromHours(1)), ("due", TimeSpan.FromMinutes(20)), ("expiring", TimeSpan.FromMinutes(8)) })
            for (var i = 0; i < 3; i++)
                issued[$"{prefix}-{i}"] = await RegisterAsync($"{prefix}-{i}", lifetime);
        var ids = issued.Keys.ToList();
        Assert.All(await AskAllAsync(ids), a => Assert.NotNull(a.Token));
        Assert.Equal(0, Server.TotalRefreshCalls);

        outageOn();
        var outage = TimeSpan.FromMinutes(16);
        var served = 0;
        var refused = 0;
        string? registerError = null;
        var outageStart = Time.GetUtcNow();
        var registered = false;
        while (Time.GetUtcNow() - outageStart < outage)
        {
            Scheduler.Advance(TimeSpan.FromSeconds(30));
            var asked = Time.GetUtcNow();
            var answers = await AskAllAsync(ids);
            var now = Time.GetUtcNow();
            foreach (var (id, token, error) in answers)
            {
                var original = issued[id];
                var validUntil = original.ExpiresAt - EngineOptions.MinimumValidity;
                if (validUntil > asked && validUntil <= now)
                {
                    // It stopped being servable while the callers waited: either answer is right.
                    if (token is not null) Assert.Equal(original.AccessToken, token.Value.Reveal());
                    continue;
                }
                if (now < validUntil)
                {
                    // A token that stays valid is served, whatever state the account's actor is in.
                    Assert.True(token is not null, $"{id} at +{(now - start).TotalMinutes:0.#} min: {error?.Message}");
                    Assert.Equal(original.AccessToken, token!.Value.Reveal());
                    served++;
                }
                else
                {
                    // Otherwise a clear, typed "store unavailable" — never an expired token, never a hang.
                    var unavailable = Assert.IsType<EngineUnavailableException>(error);
                    Assert.Contains("unavailable", unavailable.Message, StringComparison.Ordinal);
                    refused++;
                }
            }
            if (!registered && now - outageStart >= TimeSpan.FromMinutes(8))
            {
                registered = true;
                var late = Server.CreateAccount("late-0");
                var failure = await Assert.ThrowsAsync<EngineUnavailableException>(() => Tokens.RegisterAsync(
                    new AccountCredentials("late-0", "claude", new Secret(late.RefreshToken), new Secret(late.AccessToken), Time.GetUtcNow().AddHours(1))));
                registerError = failure.Message;
            }
        }
        // The refresh intent could never be journaled, so the provider was never called: nothing can have been spent.
        Assert.Equal(0, Server.TotalRefreshCalls);
        Assert.NotNull(registerError);
        var restartsDuringOutage = Restarts.ToDictionary(kv => kv.Key, kv => kv.Value);
        output.WriteLine($"during the outage: {served} tokens served, {refused} refused as unavailable; failures logged per account: " +
                         string.Join(", ", restartsDuringOutage.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}")));

        outageOff();
        // Recovery: within the longest restart backoff (30 s) plus the journal's circuit breaker reset (30 s), every account
        // is back and the ones that needed it refreshed exactly once.
        var recovered = false;
        var last = Array.Empty<(string Id, AccessToken? Token, Exception? Error)>();
        for (var i = 0; i < 180 && !recovered; i++)
        {
            Scheduler.Advance(TimeSpan.FromSeconds(1));
            // The persistence plugins retry their initialisation on the wall clock (every second): each virtual second
            // gets 100 ms of it, so a loaded machine still sees the retries within the 180 steps (the loop ends at recovery).
            await Task.Delay(100);
            last = await AskAllAsync(ids);
            recovered = last.All(a => a.Token is not null && a.Token.ExpiresAt > Time.GetUtcNow().AddMinutes(10));
        }
        Assert.True(recovered, "accounts did not recover within 3 virtual minutes after the store returned: " + string.Join("; ",
            last.Where(a => a.Token is null || a.Token.ExpiresAt <= Time.GetUtcNow().AddMinutes(10))
                .Select(a => $"{a.Id}: {(a.Token is { } t ? $"token until {t.ExpiresAt:O}" : a.Error?.Message)}")));
        foreach (var id in ids)
        {
            var expectedCalls = id.StartsWith("steady", StringComparison.Ordinal) ? 0 : 1;
            Assert.Equal(expectedCalls, Server.RefreshCalls(id));
            var token = await Tokens.GetTokenAsync(id);
            Assert.Equal(Server.Current(id).AccessToken, token.Value.Reveal());
            Assert.Equal(AccountState.Valid, (await StatusAsync(id)).State);
        }

        // Not a tight loop: restarts follow the backoff (1 s doubling to 30 s): at most ~37 in 16 minutes.
        foreach (var (id, count) in restartsDuringOutage)
            Assert.InRange(count, 1, 45);
        Assert.NotEmpty(restartsDuringOutage); // the outage was real: accounts (or the directory) failed and restarted

        // Nothing was lost: the next refresh of every account spends its latest refresh token, and registering works again.
        foreach (var id in ids) await Tokens.ForceRefreshAsync(id);
        for (var i = 0; i < 50 && ids.Any(id => Server.RefreshCalls(id) < (id.StartsWith("steady", StringComparison.Ordinal) ? 1 : 2)); i++)
            await Task.Delay(50);
        var late2 = Server.Current("late-0");
        var status = await Tokens.RegisterAsync(new AccountCredentials("late-0", "claude", new Secret(late2.RefreshToken), new Secret(late2.AccessToken), Time.GetUtcNow().AddHours(1)));
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Equal(0, Server.RefreshTokenReuse);
        Assert.Equal(0, Server.OverlappingRefreshes);
        Assert.Equal(0, Server.CallsDuringBackoff);
        output.WriteLine($"restarts (failures logged) per account during the outage: max {restartsDuringOutage.Values.DefaultIfEmpty().Max()}, total {restartsDuringOutage.Values.Sum()}");
    }

    /// <summary>The standalone region answers both as region and as directory.</summary>
    private sealed class Fixed<TKey>(IActorRef region) : IRequiredActor<TKey>
    {
        public IActorRef ActorRef => region;
        public Task<IActorRef> GetAsync(CancellationToken cancellationToken = default) => Task.FromResult(region);
    }

    private sealed class RestartCounter : ReceiveActor
    {
        public RestartCounter(ConcurrentDictionary<string, int> restarts) =>
            Receive<Error>(e =>
            {
                var text = e.Message?.ToString() ?? "";
                if (!text.Contains("journal write failed", StringComparison.Ordinal) && !text.Contains("recovery failed", StringComparison.Ordinal)) return;
                var start = text.IndexOf("Account ", StringComparison.Ordinal);
                var end = text.IndexOf(':', start + 8);
                var id = start >= 0 && end > start ? text[(start + 8)..end] : "?";
                restarts.AddOrUpdate(id, 1, (_, n) => n + 1);
            });
    }
}
