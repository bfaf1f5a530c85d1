using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>The AccountActor's states and transitions, against the fake token server over real HTTP.</summary>
public sealed class AccountActorTests(ITestOutputHelper output) : EngineTest(output)
{
    [Fact]
    public async Task Valid_account_serves_its_token_without_calling_upstream()
    {
        var tokens = await RegisterAsync("a1");
        var token = await TokenAsync("a1");
        Assert.Equal(tokens.AccessToken, token.Value.Reveal());
        Assert.Equal(0, Server.TotalRefreshCalls);
        Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State);
    }

    [Fact]
    public async Task Unknown_account_is_not_registered()
    {
        Assert.IsType<NotRegistered>(await AskAsync(new GetToken("nobody")));
        Assert.IsType<NotRegistered>(await AskAsync(new GetStatus("nobody")));
    }

    [Fact]
    public async Task Token_near_expiry_is_refreshed_once_and_the_new_one_served()
    {
        var old = await RegisterAsync("a1", lifetime: TimeSpan.FromMinutes(3)); // inside the 5-minute lead
        var token = await TokenAsync("a1");
        Assert.NotEqual(old.AccessToken, token.Value.Reveal());
        Assert.Equal(Server.Current("a1").AccessToken, token.Value.Reveal());
        Assert.Equal(1, Server.RefreshCalls("a1"));
        var status = await StatusAsync("a1");
        Assert.Equal(AccountState.Valid, status.State);
        Assert.Equal(1, status.Counters.Refreshes);
    }

    [Fact]
    public async Task Ten_thousand_concurrent_callers_on_an_expired_token_cause_exactly_one_refresh()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromMinutes(1));
        Server.Script("a1", FakeFault.Delay(TimeSpan.FromMilliseconds(200)));
        var asks = Enumerable.Range(0, 10_000).Select(_ => AskAsync(new GetToken("a1"))).ToArray();
        var replies = await Task.WhenAll(asks);

        Assert.Equal(1, Server.RefreshCalls("a1"));
        var expected = Server.Current("a1").AccessToken;
        Assert.All(replies, r => Assert.Equal(expected, Assert.IsType<TokenGranted>(r).Token.Value.Reveal()));
    }

    [Fact]
    public async Task Proactive_timer_refreshes_an_idle_account_before_expiry()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromHours(1));
        Advance(TimeSpan.FromMinutes(50)); // before refresh point minus jitter: nothing yet
        await StatusAsync("a1");
        Assert.Equal(0, Server.RefreshCalls("a1"));

        Advance(TimeSpan.FromMinutes(5)); // past 60 - 5 (lead) - 1 (half the 2-minute jitter)
        await AwaitAssertAsync(() => Assert.Equal(1, Server.RefreshCalls("a1")), Wait);
        await AwaitAssertAsync(async () => Assert.Equal(1, (await StatusAsync("a1")).Counters.Refreshes), Wait);
        Assert.True((await StatusAsync("a1")).AccessTokenExpiresAt > Time.GetUtcNow().AddHours(7));
    }

    [Fact]
    public async Task Retry_after_is_honoured_to_the_virtual_second()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(20));
        Server.Script("a1", FakeFault.RateLimited(TimeSpan.FromSeconds(30)));

        var reply = Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        var retryAt = reply.Until;
        Assert.InRange((retryAt - Time.GetUtcNow()).TotalSeconds, 29.0, 30.0);
        Assert.Equal(1, Server.RefreshCalls("a1"));

        // Callers during the backoff get an answer at once and cause no upstream call.
        for (var i = 0; i < 29; i++)
        {
            Advance(TimeSpan.FromSeconds(1));
            Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        }
        Assert.Equal(1, Server.RefreshCalls("a1"));

        Advance(retryAt - Time.GetUtcNow()); // the retry timer fires exactly at Retry-After
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("a1")), Wait);
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State), Wait);
        Assert.Equal(0, Server.CallsDuringBackoff);
        Assert.Equal(Server.Current("a1").AccessToken, (await TokenAsync("a1")).Value.Reveal());
    }

    [Fact]
    public async Task Backing_off_account_still_serves_a_token_that_stays_valid()
    {
        var tokens = await RegisterAsync("a1", lifetime: TimeSpan.FromMinutes(4));
        Server.Script("a1", FakeFault.ServerError(503));
        // Inside the lead: refresh attempted, fails, but the old token has 4 minutes left.
        var token = await TokenAsync("a1");
        Assert.Equal(tokens.AccessToken, token.Value.Reveal());
        var status = await StatusAsync("a1");
        Assert.Equal(AccountState.BackingOff, status.State);
        Assert.Equal("transient", status.LastErrorClass);
    }

    [Theory]
    [InlineData("cdn", AccountState.BackingOff, "transient")]
    [InlineData("5xx", AccountState.BackingOff, "transient")]
    [InlineData("malformed", AccountState.BackingOff, "transient")]
    [InlineData("reset", AccountState.BackingOff, "transient")]
    [InlineData("badrequest", AccountState.BackingOff, "rejected")]
    [InlineData("policy", AccountState.PolicyBlocked, "policy_refused")]
    [InlineData("grant", AccountState.PolicyBlocked, "grant_rejected")]
    public async Task Each_refresh_outcome_leads_to_its_state(string fault, AccountState expected, string errorClass)
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", fault switch
        {
            "cdn" => FakeFault.CdnForbidden,
            "5xx" => FakeFault.ServerError(502),
            "malformed" => FakeFault.MalformedJson,
            "reset" => FakeFault.ConnectionReset,
            "badrequest" => FakeFault.BadRequest("invalid_request", "Invalid request format"),
            "policy" => FakeFault.PolicyForbidden(),
            _ => FakeFault.InvalidGrant(),
        });
        var reply = await AskAsync(new GetToken("a1"));
        var status = await StatusAsync("a1");
        Assert.Equal(expected, status.State);
        Assert.Equal(errorClass, status.LastErrorClass);
        if (expected == AccountState.PolicyBlocked)
        {
            Assert.IsType<Blocked>(reply);
            Assert.Null(status.RetryAt);
            // Blocked accounts never call upstream again on their own.
            Advance(TimeSpan.FromHours(2));
            Assert.IsType<Blocked>(await AskAsync(new GetToken("a1")));
            Assert.Equal(1, Server.RefreshCalls("a1"));
        }
        else
        {
            Assert.IsType<AccountProtocol.BackingOff>(reply);
            Assert.NotNull(status.RetryAt);
        }
    }

    [Fact]
    public async Task Response_without_refresh_token_keeps_the_old_one()
    {
        var tokens = await RegisterAsync("a1", lifetime: TimeSpan.FromMinutes(1));
        Server.Script("a1", FakeFault.NoRotation);
        await TokenAsync("a1");
        Assert.Equal(tokens.RefreshToken, Server.Current("a1").RefreshToken);

        // The kept refresh token still works on the next refresh: no reuse.
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("a1")));
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("a1")), Wait);
        await AwaitAssertAsync(async () => Assert.Equal(2, (await StatusAsync("a1")).Counters.Refreshes), Wait);
    }

    [Fact]
    public async Task Report_of_the_current_token_refreshes_and_a_stale_report_does_nothing()
    {
        var first = await RegisterAsync("a1");
        var reply = Assert.IsType<TokenGranted>(await AskAsync(new ReportRejected("a1", Secret.FingerprintOf(first.AccessToken))));
        Assert.NotEqual(first.AccessToken, reply.Token.Value.Reveal());
        Assert.Equal(1, Server.RefreshCalls("a1"));

        // A second caller reports the same (now old) token: answered with the current one, no refresh.
        var again = Assert.IsType<TokenGranted>(await AskAsync(new ReportRejected("a1", Secret.FingerprintOf(first.AccessToken))));
        Assert.Equal(reply.Token.Value.Reveal(), again.Token.Value.Reveal());
        Assert.Equal(1, Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Importing_a_refresh_token_the_account_already_spent_is_refused()
    {
        var first = await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Assert.IsType<TokenGranted>(await AskAsync(new GetToken("a1"))); // spends the first refresh token
        var version = (await StatusAsync("a1")).Version;

        var refused = Assert.IsType<CommandRefused>(await AskAsync(new ReplaceCredentials(new AccountCredentials(
            "a1", "claude", new Secret(first.RefreshToken), new Secret(first.AccessToken), Time.GetUtcNow() + TimeSpan.FromHours(8)))));
        Assert.Contains("already spent this refresh token", refused.Reason);
        Assert.DoesNotContain(first.RefreshToken, refused.Reason);
        Assert.Equal(version, (await StatusAsync("a1")).Version);
        Assert.Equal(Server.Current("a1").AccessToken, (await TokenAsync("a1")).Value.Reveal());
    }

    [Fact]
    public async Task Replacing_credentials_unblocks_a_dead_grant()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.InvalidGrant());
        Assert.IsType<Blocked>(await AskAsync(new GetToken("a1")));

        var fresh = Server.RotateExternally("a1"); // the user logged in again elsewhere
        var replaced = Assert.IsType<StatusReply>(await AskAsync(new ReplaceCredentials(new AccountCredentials(
            "a1", "claude", new Secret(fresh.RefreshToken), new Secret(fresh.AccessToken), fresh.ExpiresAt))));
        Assert.Equal(AccountState.Valid, replaced.Status.State);
        Assert.Equal(fresh.AccessToken, (await TokenAsync("a1")).Value.Reveal());
    }

    [Fact]
    public async Task Operator_block_and_unblock()
    {
        await RegisterAsync("a1");
        Assert.Equal(AccountState.PolicyBlocked, Assert.IsType<StatusReply>(await AskAsync(new Block("a1", "maintenance"))).Status.State);
        Assert.Contains("maintenance", Assert.IsType<Blocked>(await AskAsync(new GetToken("a1"))).Reason);
        Assert.Equal(AccountState.Valid, Assert.IsType<StatusReply>(await AskAsync(new Unblock("a1"))).Status.State);
        await TokenAsync("a1");
    }

    [Theory]
    [InlineData("bad id!", "claude", "rt", 60, "account id")]
    [InlineData("a1", "nope", "rt", 60, "unknown provider")]
    public async Task Bad_registrations_are_refused_with_a_reason(string id, string provider, string refresh, int expiresInSeconds, string reason)
    {
        var reply = await AskAsync(new Register(new AccountCredentials(id, provider, new Secret(refresh), new Secret("at"), Time.GetUtcNow().AddSeconds(expiresInSeconds))));
        Assert.Contains(reason, Assert.IsType<CommandRefused>(reply).Reason);
    }

    /// <summary>
    /// A registration can wait in the engine (a shard moving to another node) past the expiry of the access token it
    /// carries; an expired access token is the normal state of an idle login, so it is dropped, not a reason to refuse.
    /// </summary>
    [Fact]
    public async Task A_registration_whose_access_token_expired_before_it_was_processed_registers_with_its_refresh_token()
    {
        var issued = Server.CreateAccount("a1");
        var reply = await AskAsync(new Register(new AccountCredentials("a1", "claude", new Secret(issued.RefreshToken),
            new Secret(issued.AccessToken), Time.GetUtcNow().AddSeconds(-60))));
        Assert.IsType<StatusReply>(reply);

        var token = await TokenAsync("a1");
        Assert.Equal(1, Server.RefreshCalls("a1"));
        Assert.Equal(Server.Current("a1").AccessToken, token.Value.Reveal());
    }

    [Fact]
    public async Task New_credentials_whose_access_token_already_expired_are_taken_with_their_refresh_token()
    {
        await RegisterAsync("a1");
        var fresh = Server.RotateExternally("a1");
        var reply = await AskAsync(new ReplaceCredentials(new AccountCredentials("a1", "claude", new Secret(fresh.RefreshToken),
            new Secret(fresh.AccessToken), Time.GetUtcNow().AddSeconds(-1))));
        Assert.IsType<StatusReply>(reply);

        var token = await TokenAsync("a1");
        Assert.Equal(1, Server.RefreshCalls("a1"));
        Assert.Equal(Server.Current("a1").AccessToken, token.Value.Reveal());
    }

    [Fact]
    public async Task Registering_twice_is_refused_and_keeps_the_stored_tokens()
    {
        var tokens = await RegisterAsync("a1");
        var reply = await AskAsync(new Register(new AccountCredentials("a1", "claude", new Secret("other"), null, null)));
        Assert.IsType<CommandRefused>(reply);
        Assert.Equal(tokens.AccessToken, (await TokenAsync("a1")).Value.Reveal());
    }

    [Fact]
    public async Task Removed_account_is_forgotten()
    {
        await RegisterAsync("a1");
        Assert.IsType<StatusReply>(await AskAsync(new Remove("a1")));
        Assert.IsType<NotRegistered>(await AskAsync(new GetToken("a1")));
        Assert.False(Services.ReadSide.TryGetFreshToken("a1", out _));
    }

    [Fact]
    public async Task Read_side_serves_a_fresh_token_and_never_one_past_its_refresh_point()
    {
        var tokens = await RegisterAsync("a1", lifetime: TimeSpan.FromMinutes(30));
        Assert.True(Services.ReadSide.TryGetFreshToken("a1", out var token));
        Assert.Equal(tokens.AccessToken, token.Value.Reveal());

        Server.SetPersistentFault("a1", FakeFault.ServerError(503)); // the proactive refresh will fail
        Advance(TimeSpan.FromMinutes(25)); // exactly the refresh point (30 - 5 lead)
        Assert.False(Services.ReadSide.TryGetFreshToken("a1", out _));
    }

    [Fact]
    public async Task Read_side_refuses_at_once_while_blocked_or_backing_off_without_a_valid_token()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.RateLimited(TimeSpan.FromSeconds(30)));
        var backoff = Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));

        Assert.True(Services.ReadSide.TryGetRefusal("a1", out var refusal));
        Assert.False(refusal.Blocked);
        Assert.Equal(backoff.Until, refusal.Until);

        Advance(backoff.Until - Time.GetUtcNow()); // the refusal ends exactly when the backoff does
        Assert.False(Services.ReadSide.TryGetRefusal("a1", out _));
        await AwaitAssertAsync(async () => Assert.Equal(AccountState.Valid, (await StatusAsync("a1")).State), Wait);
        Assert.False(Services.ReadSide.TryGetRefusal("a1", out _));

        Assert.IsType<StatusReply>(await AskAsync(new Block("a1", "maintenance")));
        Assert.True(Services.ReadSide.TryGetRefusal("a1", out refusal));
        Assert.True(refusal.Blocked);
        Assert.Contains("maintenance", refusal.Reason);
        Assert.IsType<StatusReply>(await AskAsync(new Unblock("a1")));
        Assert.False(Services.ReadSide.TryGetRefusal("a1", out _));
    }

    [Fact]
    public async Task Backing_off_with_a_still_valid_token_publishes_no_refusal()
    {
        await RegisterAsync("a1", lifetime: TimeSpan.FromMinutes(4));
        Server.Script("a1", FakeFault.ServerError(503));
        await TokenAsync("a1"); // the failed refresh leaves the old, still valid token to serve
        Assert.Equal(AccountState.BackingOff, (await StatusAsync("a1")).State);
        Assert.False(Services.ReadSide.TryGetRefusal("a1", out _));
    }
}
