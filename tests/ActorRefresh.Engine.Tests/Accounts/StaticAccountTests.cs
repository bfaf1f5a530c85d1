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
/// Long-lived tokens (no refresh token, as <c>claude setup-token</c> gives) and grant ends, on virtual time over days:
/// served until expiry and never refreshed by any path, blocked when expired or refused, cleared by new credentials, and
/// warned about 30, 7 and 1 day before the grant ends, each warning once across restarts of the account.
/// </summary>
public sealed class StaticAccountTests(ITestOutputHelper output) : EngineTest(output)
{
    // Days of virtual time: usage checks every five minutes would be thousands of calls about nothing here.
    protected override bool UsageChecks => false;

    private const string LongToken = "sk-ant-oat01-LONGLIVEDsetupTOKEN1234567890";

    private async Task<DateTimeOffset> RegisterStaticAsync(string id, TimeSpan life, string token = LongToken, IActorRef? region = null)
    {
        var expiresAt = Time.GetUtcNow() + life;
        var reply = await (region ?? Region).Ask<object>(new Register(new AccountCredentials(id, "claude", null, new Secret(token), expiresAt)), Wait);
        Assert.IsType<StatusReply>(reply);
        return expiresAt;
    }

    /// <summary>Advances virtual time by exactly <paramref name="by"/>, in steps of at most <paramref name="step"/>.</summary>
    private void AdvanceExactly(TimeSpan by, TimeSpan step)
    {
        for (var left = by; left > TimeSpan.Zero; left -= step)
            Advance(left < step ? left : step);
    }

    private async Task<AccountStatus> SettledStatusAsync(string id, IActorRef? region = null)
    {
        AccountStatus status = null!;
        await AwaitAssertAsync(async () =>
        {
            status = Assert.IsType<StatusReply>(await (region ?? Region).Ask<object>(new GetStatus(id), Wait)).Status;
            Assert.NotEqual(AccountState.Refreshing, status.State);
        }, Wait);
        return status;
    }

    [Fact]
    public async Task A_long_lived_token_is_served_until_it_expires_then_blocked_and_never_refreshed()
    {
        var expiresAt = await RegisterStaticAsync("s1", TimeSpan.FromDays(3));

        var status = await StatusAsync("s1");
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Null(status.NextRefreshAt);
        Assert.Equal(expiresAt, status.GrantExpiresAt);
        // Every path that would refresh a refreshable account: a forced refresh, and the timer across days.
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("s1")));
        AdvanceExactly(TimeSpan.FromDays(3) - TimeSpan.FromMinutes(1), TimeSpan.FromHours(6));
        var reply = await AskAsync(new GetToken("s1"));
        var served = Assert.IsType<TokenGranted>(reply).Token;
        Assert.Equal(LongToken, served.Value.Reveal());
        Assert.Equal(expiresAt, served.ExpiresAt);
        Assert.Equal(AccountState.Valid, (await SettledStatusAsync("s1")).State);

        Advance(TimeSpan.FromMinutes(2));
        await AwaitAssertAsync(async () => Assert.Equal(ErrorClasses.TokenExpired, (await StatusAsync("s1")).LastErrorClass), Wait);
        status = await StatusAsync("s1");
        Assert.Equal(AccountState.PolicyBlocked, status.State);
        Assert.Contains("register a new token", status.LastError, StringComparison.Ordinal);
        Assert.IsType<Blocked>(await AskAsync(new GetToken("s1")));
        Assert.Equal(0, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task A_token_requested_after_expiry_is_blocked_without_a_refresh()
    {
        await RegisterStaticAsync("s1", TimeSpan.FromHours(1));
        // Past the expiry in one jump, asked before the timer's block is journaled or after: never a refresh.
        Advance(TimeSpan.FromHours(2));
        var blocked = Assert.IsType<Blocked>(await AskAsync(new GetToken("s1")));
        Assert.Contains("expired", blocked.Reason, StringComparison.Ordinal);
        Assert.Equal(ErrorClasses.TokenExpired, (await SettledStatusAsync("s1")).LastErrorClass);
        Assert.Equal(0, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task A_rejected_long_lived_token_is_blocked_and_new_credentials_clear_the_block()
    {
        await RegisterStaticAsync("s1", TimeSpan.FromDays(300));
        var token = await TokenAsync("s1");

        Assert.IsType<Blocked>(await AskAsync(new ReportRejected("s1", token.Value.Fingerprint)));
        var status = await SettledStatusAsync("s1");
        Assert.Equal(AccountState.PolicyBlocked, status.State);
        Assert.Equal(ErrorClasses.TokenRejected, status.LastErrorClass);
        Assert.IsType<Blocked>(await AskAsync(new GetToken("s1")));

        // A new long-lived token replaces it: served at once.
        var replaced = Assert.IsType<StatusReply>(await AskAsync(new ReplaceCredentials(
            new AccountCredentials("s1", "claude", null, new Secret(LongToken + "NEW"), Time.GetUtcNow() + TimeSpan.FromDays(365))))).Status;
        Assert.Equal(AccountState.Valid, replaced.State);
        Assert.Equal(LongToken + "NEW", (await TokenAsync("s1")).Value.Reveal());

        // Expired, then a refreshable login replaces it: the block is gone and the account refreshes as any other.
        Advance(TimeSpan.FromDays(366));
        Assert.IsType<Blocked>(await AskAsync(new GetToken("s1")));
        var login = Server.CreateAccount("s1");
        Assert.IsType<StatusReply>(await AskAsync(new ReplaceCredentials(
            new AccountCredentials("s1", "claude", new Secret(login.RefreshToken), new Secret(login.AccessToken), Time.GetUtcNow() + TimeSpan.FromHours(8)))));
        Assert.Equal(login.AccessToken, (await TokenAsync("s1")).Value.Reveal());
        Assert.Equal(0, Server.TotalRefreshCalls);
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("s1")));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.RefreshCalls("s1")), Wait);
    }

    [Fact]
    public async Task An_expired_long_lived_token_is_refused_at_registration()
    {
        var refused = Assert.IsType<CommandRefused>(await AskAsync(new Register(
            new AccountCredentials("s1", "claude", null, new Secret(LongToken), Time.GetUtcNow() - TimeSpan.FromMinutes(1)))));
        Assert.Contains("no refresh token", refused.Reason, StringComparison.Ordinal);
        var empty = Assert.IsType<CommandRefused>(await AskAsync(new Register(new AccountCredentials("s2", "claude", null))));
        Assert.Contains("refreshToken", empty.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grant_warnings_fire_at_30_7_and_1_day_each_once_across_restarts()
    {
        var end = await RegisterStaticAsync("s1", TimeSpan.FromDays(31));
        var region = Region;
        var status = await StatusAsync("s1");
        Assert.Null(status.GrantNoticeDays);

        async Task<AccountStatus> AtDaysLeftAsync(double daysLeft)
        {
            var by = end - TimeSpan.FromDays(daysLeft) - Time.GetUtcNow();
            AdvanceExactly(by, TimeSpan.FromHours(12));
            return await SettledStatusAsync("s1", region);
        }

        async Task RestartAsync()
        {
            Watch(region);
            Sys.Stop(region);
            await ExpectTerminatedAsync(region, Wait);
            region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-" + Guid.NewGuid().ToString("N"));
        }

        status = await AtDaysLeftAsync(30.5);
        Assert.Null(status.GrantNoticeDays);
        status = await AtDaysLeftAsync(29.9);
        await AwaitAssertAsync(async () => Assert.Equal(30, (await SettledStatusAsync("s1", region)).GrantNoticeDays), Wait);
        var afterFirst = (await SettledStatusAsync("s1", region)).Version;

        // A restart recovers the journaled warning from SQLite: it does not fire again.
        await RestartAsync();
        status = await AtDaysLeftAsync(29);
        Assert.Equal(30, status.GrantNoticeDays);
        Assert.Equal(afterFirst, status.Version);

        status = await AtDaysLeftAsync(6.9);
        await AwaitAssertAsync(async () => Assert.Equal(7, (await SettledStatusAsync("s1", region)).GrantNoticeDays), Wait);
        var afterSecond = (await SettledStatusAsync("s1", region)).Version;
        Assert.Equal(afterFirst + 1, afterSecond);
        await RestartAsync();
        status = await AtDaysLeftAsync(2);
        Assert.Equal(afterSecond, status.Version);

        status = await AtDaysLeftAsync(0.9);
        await AwaitAssertAsync(async () => Assert.Equal(1, (await SettledStatusAsync("s1", region)).GrantNoticeDays), Wait);
        await RestartAsync();
        status = await AtDaysLeftAsync(0.5);
        Assert.Equal(afterSecond + 1, status.Version);
        Assert.Equal(end, status.GrantExpiresAt);
        Assert.Equal(0, Server.TotalRefreshCalls);
    }
}
