using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>
/// Every fault the fake token server can script, hitting an account in each state, under concurrent callers, on
/// virtual time. After each: every caller got the typed answer the state table promises, the upstream saw exactly the
/// calls the backoff schedule allows, no token pair was lost (the next refresh spends the latest refresh token without
/// reuse), and the server's counters show no overlap, no call during a backoff and no reuse except the one unavoidable
/// loss (the provider rotated, then the answer was lost).
/// </summary>
public sealed class FaultMatrixTests(ITestOutputHelper output) : EngineTest(output)
{
    private const int Callers = 40;

    public enum Start
    {
        /// <summary>Valid, but inside the refresh lead: the next request refreshes; the old token stays usable for minutes.</summary>
        ValidNearExpiry,
        /// <summary>BackingOff after a 429; the fault meets the retry at the moment the backoff ends. No usable token.</summary>
        BackingOffDue,
        /// <summary>PolicyBlocked: the fault must never be reached.</summary>
        PolicyBlocked,
        /// <summary>Registered with a refresh token only.</summary>
        FreshWithoutAccessToken,
    }

    private enum Result { Success, Backoff, Block }

    // AnswerMayBeLost: the request may have reached the provider but no usable answer came back, so the account must
    // count its refresh token as possibly spent (a later dead grant is then reported as that loss).
    private sealed record FaultCase(string Name, Func<DateTimeOffset, FakeFault> Fault, Result Result, string? ErrorClass, bool LosesAnswerAfterRotation = false, bool AnswerMayBeLost = false);

    private static readonly FaultCase[] Faults =
    [
        new("429-seconds", _ => FakeFault.RateLimited(TimeSpan.FromSeconds(30)), Result.Backoff, "rate_limited"),
        new("429-date", now => FakeFault.RateLimitedUntil(now.AddSeconds(45)), Result.Backoff, "rate_limited"),
        new("429-none", _ => FakeFault.RateLimited(null), Result.Backoff, "rate_limited"),
        new("429-ms", _ => FakeFault.RateLimitedMs(1500), Result.Backoff, "rate_limited"),
        new("5xx", _ => FakeFault.ServerError(503), Result.Backoff, "transient"),
        new("delay", _ => FakeFault.Delay(TimeSpan.FromMilliseconds(300)), Result.Success, null),
        new("timeout", _ => FakeFault.Hang, Result.Backoff, "transient", AnswerMayBeLost: true),
        new("reset", _ => FakeFault.ConnectionReset, Result.Backoff, "transient", AnswerMayBeLost: true),
        new("rotate-then-reset", _ => FakeFault.RotateThenReset, Result.Backoff, "transient", LosesAnswerAfterRotation: true, AnswerMayBeLost: true),
        new("403-html", _ => FakeFault.CdnForbidden, Result.Backoff, "transient"),
        new("403-policy", _ => FakeFault.PolicyForbidden(), Result.Block, "policy_refused"),
        new("400-invalid-grant", _ => FakeFault.InvalidGrant(), Result.Block, "grant_rejected"),
        new("malformed-json", _ => FakeFault.MalformedJson, Result.Backoff, "transient", AnswerMayBeLost: true),
        new("no-rotation", _ => FakeFault.NoRotation, Result.Success, null),
        new("400-other", _ => FakeFault.BadRequest("invalid_request", "Invalid request format"), Result.Backoff, "rejected"),
    ];

    [Theory]
    [InlineData(Start.ValidNearExpiry)]
    [InlineData(Start.BackingOffDue)]
    [InlineData(Start.PolicyBlocked)]
    [InlineData(Start.FreshWithoutAccessToken)]
    public async Task Every_fault_against_an_account_in_this_state(Start start)
    {
        ExpectReuse = true; // asserted exactly below: only the rotate-then-reset case may reuse, once
        var expectedReuse = 0;
        foreach (var fault in Faults)
        {
            var id = $"{start}.{fault.Name}".ToLowerInvariant();
            Output?.WriteLine($"case {id}");
            var reuseBefore = Server.RefreshTokenReuse;
            var lost = await RunCaseAsync(start, fault, id);
            if (lost) expectedReuse++;
            Assert.Equal(reuseBefore + (lost ? 1 : 0), Server.RefreshTokenReuse);
            Assert.Equal(0, Server.OverlappingRefreshes);
            Assert.Equal(0, Server.CallsDuringBackoff);
        }
        Assert.Equal(expectedReuse, Server.RefreshTokenReuse);
    }


    [Fact]
    public async Task An_unblock_does_not_lift_a_rate_limit_whose_time_has_not_come()
    {
        // Found by tests/soak.sh: an operator's unblock during a 429 backoff let the next caller refresh at once.
        var tokens = Server.CreateAccount("unblock-429");
        Server.Script("unblock-429", FakeFault.RateLimited(TimeSpan.FromSeconds(60)));
        await RegisterAsync("unblock-429", tokens, expiresAt: null);
        var backoff = Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("unblock-429")));
        Assert.Equal(AccountState.BackingOff, Assert.IsType<StatusReply>(await AskAsync(new Unblock("unblock-429"))).Status.State);
        Assert.Equal(backoff.Until, Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("unblock-429"))).Until);
        Assert.Equal(1, Server.RefreshCalls("unblock-429"));

        Advance(backoff.Until - Time.GetUtcNow());
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("unblock-429")), Wait);
        Assert.Equal(Server.Current("unblock-429").AccessToken, (await TokenAsync("unblock-429")).Value.Reveal());
        Assert.Equal(0, Server.CallsDuringBackoff);
    }

    /// <returns>True when the case ended in the unavoidable loss (the provider rotated and the answer was lost).</returns>
    private async Task<bool> RunCaseAsync(Start start, FaultCase fault, string id)
    {
        var tokens = Server.CreateAccount(id);
        var now = Time.GetUtcNow();
        var setupCalls = 0;
        switch (start)
        {
            case Start.ValidNearExpiry:
                Server.SetPersistentFault(id, fault.Fault(now));
                await RegisterAsync(id, tokens, now + TimeSpan.FromMinutes(3));
                break;
            case Start.FreshWithoutAccessToken:
                Server.SetPersistentFault(id, fault.Fault(now));
                await RegisterAsync(id, tokens, expiresAt: null);
                break;
            case Start.BackingOffDue:
                Server.Script(id, FakeFault.RateLimited(TimeSpan.FromSeconds(30)));
                await RegisterAsync(id, tokens, now + TimeSpan.FromSeconds(10));
                Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken(id)));
                setupCalls = 1;
                var retryAt = (await StatusAsync(id)).RetryAt!.Value;
                Server.SetPersistentFault(id, fault.Fault(Time.GetUtcNow()));
                Advance(retryAt - Time.GetUtcNow()); // the backoff's time has come: its retry timer fires now
                break;
            case Start.PolicyBlocked:
                Server.Script(id, FakeFault.PolicyForbidden());
                await RegisterAsync(id, tokens, now + TimeSpan.FromSeconds(10));
                Assert.IsType<Blocked>(await AskAsync(new GetToken(id)));
                setupCalls = 1;
                Server.SetPersistentFault(id, fault.Fault(now));
                break;
        }

        // Concurrent callers meet the fault.
        var asks = Enumerable.Range(0, Callers).Select(_ => AskAsync(new GetToken(id))).ToArray();
        if (start != Start.PolicyBlocked && fault.Name == "timeout")
        {
            await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes(id)), Wait);
            Advance(TimeSpan.FromSeconds(10)); // the provider's 5 s request timeout + 5 s grace, on the account's clock
        }
        var replies = await Task.WhenAll(asks);
        Server.SetPersistentFault(id, null);

        var result = start == Start.PolicyBlocked ? Result.Block : fault.Result;
        var expectedCalls = setupCalls + (start == Start.PolicyBlocked ? 0 : 1);
        await AwaitAssertAsync(() => Assert.Equal(expectedCalls, Server.RefreshCalls(id)), Wait);
        var status = await StatusAsync(id);
        var current = Server.Current(id);

        // Every caller got the one typed answer the state table promises.
        switch (result)
        {
            case Result.Success:
                Assert.Equal(AccountState.Valid, status.State);
                Assert.All(replies, r => Assert.Equal(current.AccessToken, Assert.IsType<TokenGranted>(r).Token.Value.Reveal()));
                if (fault.Name == "no-rotation") Assert.Equal(tokens.RefreshToken, current.RefreshToken);
                break;
            case Result.Backoff:
                Assert.Equal(AccountState.BackingOff, status.State);
                Assert.Equal(fault.ErrorClass, status.LastErrorClass);
                Assert.NotNull(status.RetryAt);
                if (start == Start.ValidNearExpiry)
                    // The old token stays valid for minutes: it is still served while backing off.
                    Assert.All(replies, r => Assert.Equal(tokens.AccessToken, Assert.IsType<TokenGranted>(r).Token.Value.Reveal()));
                else
                    Assert.All(replies, r => Assert.Equal(status.RetryAt, Assert.IsType<AccountProtocol.BackingOff>(r).Until));
                break;
            case Result.Block:
                Assert.Equal(AccountState.PolicyBlocked, status.State);
                Assert.Equal(start == Start.PolicyBlocked ? "policy_refused" : fault.ErrorClass, status.LastErrorClass);
                Assert.All(replies, r => Assert.IsType<Blocked>(r));
                break;
        }
        Assert.Equal(fault.AnswerMayBeLost && start != Start.PolicyBlocked, status.RefreshTokenMaybeSpent);

        // Recovery: the upstream sees nothing before the backoff ends and exactly one call when it does; the next refresh
        // spends the latest refresh token, so no pair was lost.
        switch (result)
        {
            case Result.Backoff:
                if (fault.Name == "timeout")
                    // The account gave up and cancelled the call on its virtual clock; the server notices the closed connection
                    // on the wall clock. The retry must come after that, or the server would count the abandoned call and
                    // the retry as overlapping although the engine holds only one.
                    await AwaitAssertAsync(() => Assert.Equal(0, Server.InFlightRefreshes(id)), Wait);
                await WaitOutBackoffAsync(id, status.RetryAt!.Value, expectedCalls);
                break;
            case Result.Block:
                Assert.IsType<StatusReply>(await AskAsync(new Unblock(id)));
                break;
            case Result.Success:
                Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh(id)));
                break;
        }
        if (result != Result.Backoff)
            _ = await AskAsync(new GetToken(id)); // refreshes unless already done by a timer
        await AwaitAssertAsync(() => Assert.Equal(expectedCalls + 1, Server.RefreshCalls(id)), Wait);

        if (fault.LosesAnswerAfterRotation && start != Start.PolicyBlocked)
        {
            // The unavoidable loss: the provider rotated but its answer never arrived. The account knows its refresh token
            // may be spent; the retry spends it (one reuse) and the account is blocked as exactly that loss, loudly, until
            // an operator gives it new credentials.
            status = await AwaitStatusAsync(id, s => s.State == AccountState.PolicyBlocked);
            Assert.Equal("interrupted_refresh", status.LastErrorClass);
            Assert.Contains("consumed by an interrupted refresh", status.LastError);
            Assert.IsType<Blocked>(await AskAsync(new GetToken(id)));
            var relogin = Server.RotateExternally(id);
            Assert.IsType<StatusReply>(await AskAsync(new ReplaceCredentials(new AccountCredentials(
                id, "claude", new Secret(relogin.RefreshToken), new Secret(relogin.AccessToken), relogin.ExpiresAt))));
            Assert.Equal(relogin.AccessToken, (await TokenAsync(id)).Value.Reveal());
            return true;
        }

        status = await AwaitStatusAsync(id, s => s.State == AccountState.Valid);
        Assert.False(status.RefreshTokenMaybeSpent);
        Assert.Equal(Server.Current(id).AccessToken, (await TokenAsync(id)).Value.Reveal());
        Assert.Equal(expectedCalls + 1, Server.RefreshCalls(id));
        return false;
    }

    /// <summary>Steps virtual time up to the retry with callers at every step: no upstream call until the retry, then one.</summary>
    private async Task WaitOutBackoffAsync(string id, DateTimeOffset retryAt, int callsSoFar)
    {
        var remaining = retryAt - Time.GetUtcNow();
        var step = (remaining - TimeSpan.FromMilliseconds(1)) / 4;
        for (var i = 0; i < 4 && step > TimeSpan.Zero; i++)
        {
            Advance(step);
            var replies = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => AskAsync(new GetToken(id))));
            Assert.All(replies, r => Assert.True(r is TokenGranted or AccountProtocol.BackingOff, r.GetType().Name));
            Assert.Equal(callsSoFar, Server.RefreshCalls(id));
        }
        Advance(retryAt - Time.GetUtcNow());
    }

    private async Task<AccountStatus> AwaitStatusAsync(string id, Func<AccountStatus, bool> condition)
    {
        AccountStatus status = null!;
        await AwaitAssertAsync(async () => Assert.True(condition(status = await StatusAsync(id)), status?.ToString()), Wait);
        return status;
    }

    private async Task RegisterAsync(string id, FakeAccountTokens tokens, DateTimeOffset? expiresAt)
    {
        var credentials = expiresAt is { } at
            ? new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), at)
            : new AccountCredentials(id, "claude", new Secret(tokens.RefreshToken));
        Assert.IsType<StatusReply>(await AskAsync(new Register(credentials)));
    }
}
