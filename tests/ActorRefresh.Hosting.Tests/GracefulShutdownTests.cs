using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.TestKit;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Hosting.Tests;

/// <summary>A clean stop (SIGTERM runs the same coordinated shutdown) never drops a refresh result.</summary>
public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task Stopping_the_host_lets_a_refresh_in_flight_journal_its_outcome()
    {
        await using var server = await FakeTokenServer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = HostedEngine.NewDirectory(),
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
        };
        var issued = server.CreateAccount("a1");
        server.Script("a1", FakeFault.Delay(TimeSpan.FromMilliseconds(800)));

        Task<AccessToken> pending;
        using (var first = HostedEngine.Build(settings))
        {
            await first.StartAsync();
            var tokens = first.Services.GetRequiredService<ITokenProvider>();
            await first.Services.GetRequiredService<IAccountAdmin>().RegisterAsync(new AccountCredentials("a1", "claude", new Secret(issued.RefreshToken), new Secret(issued.AccessToken), DateTimeOffset.UtcNow.AddSeconds(30)));
            pending = tokens.GetTokenAsync("a1").AsTask();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
                while (server.InFlightRefreshes("a1") == 0) await Task.Delay(10, timeout.Token);
            await first.StopAsync(); // while the token endpoint is still answering
        }

        // The caller waiting on the refresh got its result before the engine stopped.
        Assert.Equal(server.Current("a1").AccessToken, (await pending).Value.Reveal());

        using var second = HostedEngine.Build(settings);
        await second.StartAsync();
        var restarted = second.Services.GetRequiredService<ITokenProvider>();
        var accounts = second.Services.GetRequiredService<IAccountAdmin>();
        var status = await accounts.GetStatusAsync("a1");
        Assert.False(status.RefreshTokenMaybeSpent);
        Assert.Equal(1, status.Counters.Refreshes);
        Assert.Equal(server.Current("a1").AccessToken, (await restarted.GetTokenAsync("a1")).Value.Reveal());

        await accounts.ForceRefreshAsync("a1"); // spends the journaled refresh token: it must be the current one
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            while ((await accounts.GetStatusAsync("a1")).Counters.Refreshes < 2) await Task.Delay(10, timeout.Token);
        Assert.Equal(0, server.RefreshTokenReuse);
        await second.StopAsync();
    }

    [Fact]
    public async Task The_shutdown_phases_and_the_host_wait_as_long_as_the_slowest_provider_may_answer()
    {
        await using var server = await FakeTokenServer.StartAsync();
        await using var engine = await HostedEngine.StartAsync(server, new Dictionary<string, string?>
        {
            // A slow second provider: its refreshes may take 2 minutes, plus the 5 s grace, plus 5 s to journal.
            ["ActorRefresh:Providers:slow:TokenEndpoint"] = server.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:slow:ClientId"] = "slow-client",
            ["ActorRefresh:Providers:slow:RequestTimeout"] = "00:02:00",
        });
        var expected = TimeSpan.FromSeconds(130);

        var system = engine.Host.Services.GetRequiredService<ActorSystem>();
        var shutdown = CoordinatedShutdown.Get(system);
        Assert.Equal(expected, shutdown.Timeout(CoordinatedShutdown.PhaseServiceRequestsDone));
        Assert.Equal(expected, shutdown.Timeout(CoordinatedShutdown.PhaseClusterShardingShutdownRegion));
        Assert.True(system.Settings.Config.GetTimeSpan("akka.cluster.sharding.handoff-timeout") >= expected);
        // The generic host gives Akka's shutdown that long plus the other phases before it gives up on it.
        var host = engine.Host.Services.GetRequiredService<IOptions<HostOptions>>().Value;
        Assert.True(host.ShutdownTimeout >= expected + TimeSpan.FromSeconds(30), $"host shutdown timeout {host.ShutdownTimeout}");
    }
}
