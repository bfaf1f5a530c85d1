using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Akka.Actor;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Usage;

/// <summary>
/// Usage (quota) checks of an account against the fake server's usage endpoint, on virtual time: one test per outcome
/// row, the two 403 paths kept apart, passive reports, and re-login rules. The default interval is 5 minutes with a
/// 1-minute jitter and jitter source 0.5: a check fires 4.5 minutes after the previous one.
/// </summary>
public sealed class UsageCheckTests(ITestOutputHelper output) : EngineTest(output)
{
    private static readonly TimeSpan FirstCheck = TimeSpan.FromMinutes(5);

    private async Task<AccountStatus> CheckedAsync(string id, int usageCalls)
    {
        await AwaitAssertAsync(() => Assert.Equal(usageCalls, Server.UsageCalls(id)), Wait);
        AccountStatus status = null!;
        await AwaitAssertAsync(async () =>
        {
            status = await StatusAsync(id);
            Assert.NotNull(status.Usage?.LastCheck);
        }, Wait);
        return status;
    }

    [Fact]
    public async Task Quota_is_polled_on_the_timer_and_published_without_journaling_below_the_threshold()
    {
        await RegisterAsync("a1");
        var reset = Time.GetUtcNow().AddHours(3);
        Server.SetUsage("a1", 40, 10, fiveHourResetsAt: reset);
        var before = await StatusAsync("a1");

        Advance(TimeSpan.FromMinutes(4)); // before the first check
        await StatusAsync("a1");
        Assert.Equal(0, Server.UsageCalls("a1"));

        Advance(TimeSpan.FromMinutes(1));
        var status = await CheckedAsync("a1", 1);
        Assert.Equal("observed", status.Usage!.LastCheck);
        Assert.Equal(40, status.Usage.FiveHourUtilization);
        Assert.Equal(reset, status.Usage.FiveHourResetsAt!.Value, TimeSpan.FromSeconds(1));
        Assert.Equal(10, status.Usage.SevenDayUtilization);
        Assert.Equal(before.Version, status.Version); // nothing journaled
        Assert.True(Services.ReadSide.TryGetStatus("a1", out var published));
        Assert.Equal(40, published.Usage!.FiveHourUtilization);

        Advance(TimeSpan.FromMinutes(5));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.UsageCalls("a1")), Wait);
        Assert.Equal(0, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Crossing_the_threshold_is_journaled_and_survives_a_restart()
    {
        await RegisterAsync("a1");
        Server.SetUsage("a1", 95, 20, fiveHourResetsAt: Time.GetUtcNow().AddHours(2));
        var before = await StatusAsync("a1");
        Advance(FirstCheck);
        var status = await CheckedAsync("a1", 1);
        Assert.Equal(before.Version + 1, status.Version);

        // Another observation on the same side of the threshold changes nothing in the journal.
        Server.SetUsage("a1", 97, 20, fiveHourResetsAt: Time.GetUtcNow().AddHours(2));
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal(97, (await StatusAsync("a1")).Usage!.FiveHourUtilization), Wait);
        Assert.Equal(before.Version + 1, (await StatusAsync("a1")).Version);

        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
        var recovered = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
        Assert.Equal(95, recovered.Usage!.FiveHourUtilization); // the journaled crossing
    }

    [Fact]
    public async Task Usage_429_backs_off_quota_checks_only_and_the_account_stays_usable()
    {
        var tokens = await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.RateLimited(TimeSpan.FromMinutes(20)));
        Advance(FirstCheck);
        var status = await CheckedAsync("a1", 1);

        Assert.Equal("rate_limited", status.Usage!.LastCheck);
        Assert.Equal(Time.GetUtcNow().AddMinutes(20), status.Usage.QuotaCheckRetryAt!.Value, TimeSpan.FromSeconds(1));
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Null(status.RetryAt);
        Assert.Null(status.LastErrorClass);
        Assert.Equal(tokens.AccessToken, (await TokenAsync("a1")).Value.Reveal());
        Assert.True(Services.ReadSide.TryGetFreshToken("a1", out _));

        AdvanceInSteps(TimeSpan.FromMinutes(19), TimeSpan.FromMinutes(1)); // the regular interval does not override the Retry-After
        await StatusAsync("a1");
        Assert.Equal(1, Server.UsageCalls("a1"));
        AdvanceInSteps(TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.UsageCalls("a1")), Wait);
        Assert.Equal(0, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Usage_401_rejects_the_access_token_and_refreshes_once_through_the_normal_path()
    {
        var tokens = await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.Unauthorized);
        Advance(FirstCheck);

        await AwaitAssertAsync(() => Assert.Equal(1, Server.RefreshCalls("a1")), Wait);
        await AwaitAssertAsync(async () => Assert.Equal(1, (await StatusAsync("a1")).Counters.Refreshes), Wait);
        var status = await StatusAsync("a1");
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Equal("token_rejected", status.Usage!.LastCheck);
        Assert.Null(status.Usage.QuotaCheckRetryAt);
        var token = await TokenAsync("a1");
        Assert.NotEqual(tokens.AccessToken, token.Value.Reveal());
        Assert.Equal(Server.Current("a1").AccessToken, token.Value.Reveal());

        // The next check uses the new token and succeeds.
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal("observed", (await StatusAsync("a1")).Usage!.LastCheck), Wait);
        Assert.Equal(1, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Usage_403_permission_error_blocks_as_policy_with_no_quota_backoff()
    {
        await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.PolicyForbidden);
        Advance(FirstCheck);

        await AwaitAssertAsync(async () => Assert.Equal(AccountState.PolicyBlocked, (await StatusAsync("a1")).State), Wait);
        var status = await StatusAsync("a1");
        Assert.Equal("policy_refused", status.LastErrorClass);
        Assert.Contains("organisation policy", status.LastError);
        Assert.Null(status.RetryAt);
        Assert.Null(status.Usage!.QuotaCheckRetryAt);
        Assert.IsType<Blocked>(await AskAsync(new GetToken("a1")));
        Assert.False(Services.ReadSide.TryGetFreshToken("a1", out _));

        // Blocked: no more checks, no refreshes.
        AdvanceInSteps(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5));
        await StatusAsync("a1");
        Assert.Equal(1, Server.UsageCalls("a1"));
        Assert.Equal(0, Server.RefreshCalls("a1"));
    }

    [Theory]
    [InlineData("cdn")]
    [InlineData("500")]
    [InlineData("503")]
    public async Task Usage_403_html_and_server_errors_back_off_quota_checks_only(string fault)
    {
        var tokens = await RegisterAsync("a1");
        Server.ScriptUsage("a1", fault == "cdn" ? FakeUsageFault.CdnForbidden : FakeUsageFault.ServerError(int.Parse(fault, System.Globalization.CultureInfo.InvariantCulture)));
        Advance(FirstCheck);
        var status = await CheckedAsync("a1", 1);

        Assert.Equal("transient", status.Usage!.LastCheck);
        Assert.NotNull(status.Usage.QuotaCheckRetryAt);
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Null(status.RetryAt);
        Assert.Null(status.LastErrorClass);
        Assert.Equal(tokens.AccessToken, (await TokenAsync("a1")).Value.Reveal());
        Assert.Equal(0, Server.RefreshCalls("a1"));

        // The next regular check goes through.
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal("observed", (await StatusAsync("a1")).Usage!.LastCheck), Wait);
    }

    [Fact]
    public async Task Token_endpoint_403_html_during_a_usage_triggered_refresh_arms_the_refresh_backoff()
    {
        await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.Unauthorized);
        Server.Script("a1", FakeFault.CdnForbidden);
        Advance(FirstCheck);

        await AwaitAssertAsync(async () => Assert.Equal(AccountState.BackingOff, (await StatusAsync("a1")).State), Wait);
        var status = await StatusAsync("a1");
        Assert.Equal(1, Server.RefreshCalls("a1"));
        Assert.Equal("transient", status.LastErrorClass); // a refresh outcome, as any other refresh failure
        Assert.Contains("1010", status.LastError);
        Assert.NotNull(status.RetryAt);
        Assert.Equal(1, status.Counters.Failures);
        Assert.Null(status.Usage!.QuotaCheckRetryAt); // not a quota result
        // The token the usage endpoint rejected is not handed out again.
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));

        // The refresh backoff is obeyed, then the retry succeeds.
        var retryAt = status.RetryAt!.Value;
        Advance(retryAt - Time.GetUtcNow());
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State), Wait);
        Assert.Equal(2, Server.RefreshCalls("a1"));
        Assert.Equal(0, Server.CallsDuringBackoff);
    }

    [Fact]
    public async Task Token_endpoint_policy_refusal_during_a_usage_triggered_refresh_blocks_as_a_refresh_outcome()
    {
        await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.Unauthorized);
        Server.Script("a1", FakeFault.InvalidGrant());
        Advance(FirstCheck);

        await AwaitAssertAsync(async () => Assert.Equal(AccountState.PolicyBlocked, (await StatusAsync("a1")).State), Wait);
        Assert.Equal("grant_rejected", (await StatusAsync("a1")).LastErrorClass);
    }

    [Fact]
    public async Task No_check_without_a_fresh_access_token()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(20));
        Server.SetPersistentFault("a1", FakeFault.ServerError(503));
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));

        Advance(FirstCheck);
        await StatusAsync("a1");
        Assert.Equal(0, Server.UsageCalls("a1"));
    }

    [Fact]
    public async Task Reported_headers_update_the_quota_in_memory()
    {
        await RegisterAsync("a1");
        var before = await StatusAsync("a1");
        var reset = Time.GetUtcNow().AddHours(2);
        var reply = Assert.IsType<StatusReply>(await AskAsync(new ReportUsage("a1", 200,
        [
            KeyValuePair.Create("anthropic-ratelimit-unified-status", "allowed"),
            KeyValuePair.Create("anthropic-ratelimit-unified-5h-utilization", "0.5"),
            KeyValuePair.Create("anthropic-ratelimit-unified-5h-reset", reset.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ])));
        Assert.Equal(50, reply.Status.Usage!.FiveHourUtilization);
        Assert.Equal(before.Version, reply.Status.Version);
        Assert.Null(reply.Status.Usage.ApiCooldownUntil);

        // Crossing the threshold from headers alone is journaled.
        reply = Assert.IsType<StatusReply>(await AskAsync(new ReportUsage("a1", 200,
            [KeyValuePair.Create("anthropic-ratelimit-unified-5h-utilization", "0.93")])));
        Assert.Equal(93, reply.Status.Usage!.FiveHourUtilization!.Value, 6);
        Assert.Equal(before.Version + 1, reply.Status.Version);
    }

    [Fact]
    public async Task Reported_api_429_starts_a_journaled_cooldown_and_brings_the_next_check_forward()
    {
        await RegisterAsync("a1");
        var before = await StatusAsync("a1");
        var reply = Assert.IsType<StatusReply>(await AskAsync(new ReportUsage("a1", 429, [KeyValuePair.Create("retry-after", "120")])));
        Assert.Equal(Time.GetUtcNow().AddSeconds(120), reply.Status.Usage!.ApiCooldownUntil);
        Assert.Equal(before.Version + 1, reply.Status.Version);
        Assert.Equal(AccountState.Valid, reply.Status.State); // refresh state untouched
        Assert.Null(reply.Status.RetryAt);

        // A second, shorter 429 does not shorten the cooldown and journals nothing.
        reply = Assert.IsType<StatusReply>(await AskAsync(new ReportUsage("a1", 429, [KeyValuePair.Create("retry-after", "10")])));
        Assert.Equal(before.Version + 1, reply.Status.Version);

        Advance(TimeSpan.FromSeconds(31)); // UsageCheckAfterRateLimit, not the 4.5-minute interval
        await AwaitAssertAsync(() => Assert.Equal(1, Server.UsageCalls("a1")), Wait);
    }

    [Fact]
    public async Task Reported_429_without_any_time_uses_the_default_cooldown()
    {
        await RegisterAsync("a1");
        var reply = Assert.IsType<StatusReply>(await AskAsync(new ReportUsage("a1", 429, [])));
        Assert.Equal(Time.GetUtcNow() + Options.ApiCooldownDefault, reply.Status.Usage!.ApiCooldownUntil);
        Assert.IsType<NotRegistered>(await AskAsync(new ReportUsage("nobody", 429, [])));
    }

    [Fact]
    public async Task Policy_block_from_usage_survives_new_credentials_until_a_usage_check_with_them_succeeds()
    {
        await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.PolicyForbidden);
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.PolicyBlocked, (await StatusAsync("a1")).State), Wait);

        var fresh = Server.RotateExternally("a1"); // the user logged in again
        var replaced = Assert.IsType<StatusReply>(await AskAsync(new ReplaceCredentials(new AccountCredentials(
            "a1", "claude", new Secret(fresh.RefreshToken), new Secret(fresh.AccessToken), fresh.ExpiresAt))));
        Assert.Equal(AccountState.PolicyBlocked, replaced.Status.State); // new credentials alone do not lift a policy block

        Advance(TimeSpan.FromMilliseconds(1)); // the check with the new token runs at once
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State), Wait);
        Assert.Equal(2, Server.UsageCalls("a1"));
        Assert.Equal(fresh.AccessToken, (await TokenAsync("a1")).Value.Reveal());
        Assert.Equal(0, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Policy_block_stays_when_the_check_with_new_credentials_is_refused_again()
    {
        await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.PolicyForbidden, FakeUsageFault.PolicyForbidden);
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.PolicyBlocked, (await StatusAsync("a1")).State), Wait);

        var fresh = Server.RotateExternally("a1");
        await AskAsync(new ReplaceCredentials(new AccountCredentials("a1", "claude", new Secret(fresh.RefreshToken), new Secret(fresh.AccessToken), fresh.ExpiresAt)));
        Advance(TimeSpan.FromMilliseconds(1));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.UsageCalls("a1")), Wait);
        await StatusAsync("a1");
        Assert.Equal(AccountState.PolicyBlocked, (await StatusAsync("a1")).State);

        AdvanceInSteps(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5)); // no more checks
        await StatusAsync("a1");
        Assert.Equal(2, Server.UsageCalls("a1"));

        // An explicit unblock still works.
        Assert.Equal(AccountState.Valid, Assert.IsType<StatusReply>(await AskAsync(new Unblock("a1"))).Status.State);
    }
    // ---- a 403 about a missing scope is not an organisation policy ------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the message with a line break before the scope
    public async Task Usage_403_missing_scope_keeps_the_account_serving_and_stops_checks_until_the_credentials_change(bool lineBreak)
    {
        var tokens = await RegisterAsync("a1");
        Server.SetPersistentUsageFault("a1", FakeUsageFault.ScopeForbidden(lineBreak)); // the grant lacks user:profile
        Advance(FirstCheck);
        await AwaitAssertAsync(() => Assert.Equal(1, Server.UsageCalls("a1")), Wait);
        AccountStatus status = null!;
        await AwaitAssertAsync(async () =>
        {
            status = await StatusAsync("a1");
            Assert.Equal("scope_missing", status.Usage?.LastCheck);
        }, Wait);

        Assert.Equal(AccountState.Valid, status.State);
        Assert.Null(status.LastErrorClass);
        Assert.Null(status.RetryAt);
        Assert.Null(status.Usage!.QuotaCheckRetryAt);
        Assert.Equal("token lacks user:profile", status.Usage.Unavailable);
        Assert.Equal(status.Version, (await StatusAsync("a1")).Version); // journaled once, not per request
        Assert.Equal(tokens.AccessToken, (await TokenAsync("a1")).Value.Reveal());
        Assert.True(Services.ReadSide.TryGetFreshToken("a1", out _));

        // A refresh rotates the access token of the same grant: scope is a property of the grant, so no recheck.
        await AskAsync(new ForceRefresh("a1"));
        await AwaitAssertAsync(async () => Assert.Equal(1, (await StatusAsync("a1")).Counters.Refreshes), Wait);
        for (var i = 0; i < 6; i++)
        {
            Advance(FirstCheck);
            await StatusAsync("a1");
        }
        Assert.Equal(1, Server.UsageCalls("a1"));
        Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State);
        Assert.Equal(Server.Current("a1").AccessToken, (await TokenAsync("a1")).Value.Reveal());

        // New credentials (a re-login that grants the scope): checked again, and the quota is observed.
        Server.SetPersistentUsageFault("a1", null);
        var fresh = Server.RotateExternally("a1");
        await AskAsync(new ReplaceCredentials(new AccountCredentials("a1", "claude", new Secret(fresh.RefreshToken), new Secret(fresh.AccessToken), fresh.ExpiresAt)));
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal("observed", (await StatusAsync("a1")).Usage!.LastCheck), Wait);
        Assert.Equal(2, Server.UsageCalls("a1"));
        Assert.Null((await StatusAsync("a1")).Usage!.Unavailable);
    }

    [Fact]
    public async Task Missing_scope_survives_a_restart_without_another_usage_call()
    {
        await RegisterAsync("a1");
        Server.SetPersistentUsageFault("a1", FakeUsageFault.ScopeForbidden());
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal("scope_missing", (await StatusAsync("a1")).Usage?.LastCheck), Wait);
        Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State);

        Watch(Region);
        Sys.Stop(Region);
        ExpectTerminated(Region, Wait);
        var region = Sys.ActorOf(AccountRegion.Props(Services), "accounts-2");
        var recovered = Assert.IsType<StatusReply>(await region.Ask<object>(new GetStatus("a1"), Wait)).Status;
        Assert.Equal(AccountState.Valid, recovered.State);
        Assert.Equal("token lacks user:profile", recovered.Usage?.Unavailable); // journaled, so known without another call
        for (var i = 0; i < 4; i++)
        {
            Advance(FirstCheck);
            await region.Ask<object>(new GetStatus("a1"), Wait);
        }
        Assert.Equal(1, Server.UsageCalls("a1"));
        Assert.IsType<TokenGranted>(await region.Ask<object>(new GetToken("a1"), Wait));
    }

    [Theory]
    [InlineData("permission_error")]
    [InlineData("unknown_json")]
    public async Task Usage_403_other_than_policy_or_scope_backs_off_quota_checks_only(string body)
    {
        var tokens = await RegisterAsync("a1");
        Server.ScriptUsage("a1", body == "permission_error"
            ? FakeUsageFault.PermissionError("This organization has disabled usage reporting.")
            : FakeUsageFault.Forbidden("application/json", """{"error":{"code":"forbidden"}}"""));
        Advance(FirstCheck);
        var status = await CheckedAsync("a1", 1);

        Assert.Equal("transient", status.Usage!.LastCheck);
        Assert.NotNull(status.Usage.QuotaCheckRetryAt);
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Null(status.LastErrorClass);
        Assert.Equal(tokens.AccessToken, (await TokenAsync("a1")).Value.Reveal());

        Advance(FirstCheck); // the quota-check backoff ends; the next check goes through
        await AwaitAssertAsync(async () => Assert.Equal("observed", (await StatusAsync("a1")).Usage!.LastCheck), Wait);
    }

    [Fact]
    public async Task Policy_recheck_answered_with_a_missing_scope_keeps_the_block_and_says_why()
    {
        await RegisterAsync("a1");
        Server.ScriptUsage("a1", FakeUsageFault.PolicyForbidden);
        Advance(FirstCheck);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.PolicyBlocked, (await StatusAsync("a1")).State), Wait);

        // Re-login with a token that lacks user:profile: the usage endpoint cannot say whether the organisation allows OAuth.
        Server.SetPersistentUsageFault("a1", FakeUsageFault.ScopeForbidden(lineBreak: true));
        var fresh = Server.RotateExternally("a1");
        await AskAsync(new ReplaceCredentials(new AccountCredentials("a1", "claude", new Secret(fresh.RefreshToken), new Secret(fresh.AccessToken), fresh.ExpiresAt)));
        Advance(TimeSpan.FromMilliseconds(1));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.UsageCalls("a1")), Wait);
        AccountStatus status = null!;
        await AwaitAssertAsync(async () =>
        {
            status = await StatusAsync("a1");
            Assert.Equal("scope_missing", status.Usage?.LastCheck);
        }, Wait);
        Assert.Equal(AccountState.PolicyBlocked, status.State);
        Assert.Equal("policy_refused", status.LastErrorClass);
        Assert.Contains("user:profile", status.LastError);
        Assert.Equal("token lacks user:profile", status.Usage!.Unavailable);

        // An operator who knows the organisation allows OAuth unblocks: the account serves, and usage stays unchecked.
        Assert.Equal(AccountState.Valid, Assert.IsType<StatusReply>(await AskAsync(new Unblock("a1"))).Status.State);
        Assert.Equal(fresh.AccessToken, (await TokenAsync("a1")).Value.Reveal());
        for (var i = 0; i < 4; i++)
        {
            Advance(FirstCheck);
            await StatusAsync("a1");
        }
        Assert.Equal(2, Server.UsageCalls("a1"));
        Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State);
        Assert.Equal(0, Server.RefreshCalls("a1"));
    }
}
