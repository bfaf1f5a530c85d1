using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>Where a refreshable account's grant end comes from: the provider's MaxGrantLifetime, then the provider's answer.</summary>
public sealed class GrantEndTests(ITestOutputHelper output) : EngineTest(output)
{
    protected override bool UsageChecks => false;

    protected override IReadOnlyDictionary<string, string?> ProviderSettings { get; } =
        new Dictionary<string, string?> { ["MaxGrantLifetime"] = "30.00:00:00" };

    [Fact]
    public async Task The_grant_ends_max_grant_lifetime_after_the_login_until_the_provider_says_otherwise()
    {
        var registeredAt = Time.GetUtcNow();
        await RegisterAsync("a1");
        Assert.Equal(registeredAt + TimeSpan.FromDays(30), (await StatusAsync("a1")).GrantExpiresAt);

        // A refresh whose answer says nothing keeps the end: the grant is the same.
        Advance(TimeSpan.FromHours(1));
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("a1")));
        await AwaitAssertAsync(async () => Assert.Equal(1, (await StatusAsync("a1")).Counters.Refreshes), Wait);
        Assert.Equal(registeredAt + TimeSpan.FromDays(30), (await StatusAsync("a1")).GrantExpiresAt);

        // A provider that sends refresh_token_expires_in sets it.
        await using var telling = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time, RefreshTokenLifetime = TimeSpan.FromDays(20) });
        var services = CreateServices(telling, Time, Options, BackoffOptions, providerSettings: ProviderSettings, usage: false);
        Watch(Region);
        Sys.Stop(Region);
        await ExpectTerminatedAsync(Region, Wait);
        var region = Sys.ActorOf(AccountRegion.Props(services), "telling-accounts");
        var login = telling.CreateAccount("a2");
        Assert.IsType<StatusReply>(await region.Ask<object>(new Register(new AccountCredentials("a2", "claude", new Secret(login.RefreshToken))), Wait));
        var refreshedAt = Time.GetUtcNow();
        Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("a2"), Wait));
        var status = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a2"), Wait)).Status;
        Assert.Equal(refreshedAt + TimeSpan.FromDays(20), status.GrantExpiresAt);
        await services.DisposeAsync();
    }
}
