using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>
/// The refresh point adapts to the lifetime the provider grants: with every default setting, tokens living from two
/// seconds to a year are served for most of their life and refreshed about once per lifetime, on virtual time.
/// </summary>
public sealed class TokenLifetimeTests(ITestOutputHelper output) : EngineTest(output)
{
    /// <summary>Every default setting (the base class raises the limiter's rate for the other tests).</summary>
    protected override EngineOptions Options => new();

    private const int StepsPerLifetime = 100;
    private const int Lifetimes = 10;

    [Theory]
    [InlineData(2)]
    [InlineData(60)]
    [InlineData(5 * 60)] // Keycloak's default access-token lifespan
    [InlineData(8 * 3600)] // Claude
    [InlineData(365L * 24 * 3600)]
    public async Task A_token_of_any_lifetime_is_served_for_most_of_its_life_and_refreshed_about_once_per_lifetime(long seconds)
    {
        // Found by review: with RefreshLead 5 min, a token living 5 min or less was past its refresh point when it
        // arrived, so the account refreshed at the limiter's full rate forever and callers got 503.
        var lifetime = TimeSpan.FromSeconds(seconds);
        await using var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time, AccessTokenLifetime = lifetime });
        var services = CreateServices(server, Time, Options, BackoffOptions);
        var region = await ReplaceRegionAsync(services, "lifetime-accounts");
        try
        {
            var first = server.CreateAccount("a1");
            Assert.IsType<StatusReply>(await region.Ask<object>(new Register(new AccountCredentials(
                "a1", "claude", new Secret(first.RefreshToken), new Secret(first.AccessToken), first.ExpiresAt)), Wait));

            // What the rule predicts once the lifetime is known: lead = min(RefreshLead, L/4), the jitter scaled alike;
            // the test's random source draws 0.5, so the proactive refresh fires 1.2 leads before expiry.
            var options = Options;
            var lead = Min(options.RefreshLead, lifetime / 4);
            var scale = lead / options.RefreshLead;
            var interval = lifetime - lead - options.RefreshJitter * scale * 0.5;

            var step = lifetime / StepsPerLifetime;
            var start = Time.GetUtcNow();
            var firstServed = new Dictionary<string, DateTimeOffset>();
            var lastServed = new Dictionary<string, DateTimeOffset>();
            for (var i = 0; i < StepsPerLifetime * Lifetimes; i++)
            {
                await IdleAsync(region);
                var now = Time.GetUtcNow();
                var reply = await region.Ask<object>(new GetToken("a1"), Wait);
                var granted = Assert.IsType<TokenGranted>(reply);
                // Only a fresh token is served: one still before its refresh point.
                Assert.True(granted.Token.ExpiresAt - now > lead - TimeSpan.FromTicks(1),
                    $"at {now - start} a token with {granted.Token.ExpiresAt - now} left was served (lead {lead})");
                var value = granted.Token.Value.Reveal();
                firstServed.TryAdd(value, now);
                lastServed[value] = now;
                Scheduler.Advance(step);
            }

            await IdleAsync(region);
            var refreshes = server.RefreshCalls("a1");
            var window = Time.GetUtcNow() - start;
            Output?.WriteLine($"lifetime {lifetime}: {refreshes} refreshes in {window} (interval {interval}, step {step}), {firstServed.Count} tokens served");
            // The prediction: one refresh per interval, each interval rounded up to the test's time step (a timer fires on
            // the advance that passes its due time), plus one for the first token at most: its issue time is unknown, so an
            // imported token already inside the configured lead is refreshed at once.
            Assert.InRange(refreshes, Math.Floor(window / (interval + step)), Math.Ceiling(window / interval) + 1);
            // About once per lifetime: one refresh per token, at 65-75% of its life for short lifetimes (lead L/4, jitter
            // scaled alike), just before expiry for long ones; never the loop.
            Assert.InRange(refreshes - 1, window / lifetime - 1, window / (lifetime * 0.65));
            Assert.Equal(0, server.RefreshTokenReuse);
            Assert.Equal(0, server.OverlappingRefreshes);

            // Most of its life: every token between the first and the last was served for well over half its lifetime.
            var spans = firstServed.Keys.Skip(1).SkipLast(1).Select(v => lastServed[v] - firstServed[v]).ToList();
            Assert.NotEmpty(spans);
            Assert.All(spans, span => Assert.True(span >= lifetime * 0.6, $"a token was served for only {span} of {lifetime}"));

            var status = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
            Assert.Equal(AccountState.Valid, status.State);
            Assert.Equal(status.AccessTokenExpiresAt - lead - options.RefreshJitter * scale * 0.5, status.NextRefreshAt);
        }
        finally
        {
            await services.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_token_that_arrives_past_its_refresh_point_backs_off_instead_of_refreshing_again()
    {
        // Found by review: a refresh whose token was already past its refresh point (expires_in 0) triggered the next
        // refresh at once, forever.
        await using var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time, AccessTokenLifetime = TimeSpan.Zero });
        var services = CreateServices(server, Time, Options, BackoffOptions);
        var region = await ReplaceRegionAsync(services, "expired-accounts");
        try
        {
            var first = server.CreateAccount("a1");
            Assert.IsType<StatusReply>(await region.Ask<object>(new Register(new AccountCredentials(
                "a1", "claude", new Secret(first.RefreshToken), new Secret(first.AccessToken), Time.GetUtcNow().AddSeconds(10))), Wait));

            var reply = await EventFilter.Warning(contains: "past its refresh point").ExpectOneAsync(async () =>
                await region.Ask<object>(new GetToken("a1"), Wait));
            var backingOff = Assert.IsType<AccountProtocol.BackingOff>(reply);
            Assert.Equal(1, server.RefreshCalls("a1"));
            var status = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
            Assert.Equal(AccountState.BackingOff, status.State);
            Assert.Equal("expired_on_arrival", status.LastErrorClass);
            Assert.Equal(backingOff.Until, status.RetryAt);
            Assert.True(status.RetryAt > Time.GetUtcNow());
            // The pair the provider rotated to is kept: the token endpoint's answer was journaled, not dropped.
            Assert.Equal(1, status.Counters.Refreshes);

            // Callers during the backoff get its answer; nothing reaches the token endpoint.
            for (var i = 0; i < 4; i++)
            {
                Scheduler.Advance((status.RetryAt!.Value - Time.GetUtcNow()) / 5);
                Assert.IsType<AccountProtocol.BackingOff>(await region.Ask<object>(new GetToken("a1"), Wait));
            }
            Assert.Equal(1, server.RefreshCalls("a1"));

            // The retry refreshes once more, meets the same answer and waits longer (the attempts keep counting).
            var firstWait = status.RetryAt!.Value - status.AccessTokenExpiresAt!.Value;
            Scheduler.Advance(status.RetryAt!.Value - Time.GetUtcNow());
            await AwaitAssertAsync(() => Assert.Equal(2, server.RefreshCalls("a1")), Wait);
            await IdleAsync(region);
            var again = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
            Assert.Equal(AccountState.BackingOff, again.State);
            Assert.True(again.RetryAt!.Value - again.AccessTokenExpiresAt!.Value > firstWait,
                $"second wait {again.RetryAt - again.AccessTokenExpiresAt} not longer than the first {firstWait}");
            Assert.Equal(0, server.RefreshTokenReuse);
        }
        finally
        {
            await services.DisposeAsync();
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>A region over a server with this test's token lifetime, in place of the base one (one writer per journal).</summary>
    private async Task<IActorRef> ReplaceRegionAsync(EngineServices services, string name)
    {
        Watch(Region);
        Sys.Stop(Region);
        await ExpectTerminatedAsync(Region, Wait);
        return Sys.ActorOf(AccountRegion.Props(services), name);
    }

    /// <summary>Waits until the account has finished whatever a timer that fired on the last advance started.</summary>
    private async Task IdleAsync(IActorRef region) =>
        await AwaitAssertAsync(async () =>
            Assert.NotEqual(AccountState.Refreshing, Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status.State), Wait);
}
