using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>
/// "The refresh token may be spent" is remembered until it is settled: a refresh succeeds, new credentials arrive, or
/// the dead grant is reported as the interrupted refresh it is. Later failures and blocks do not erase it.
/// </summary>
public sealed class MaybeSpentTests(ITestOutputHelper output) : EngineTest(output)
{
    /// <summary>One refresh at a time and no queue, so a second account can fill the limiter.</summary>
    protected override EngineOptions Options => new() { MaxRefreshesPerSecond = 10_000, MaxConcurrentRefreshes = 1, RefreshQueueLimit = 0 };

    [Fact]
    public async Task A_lost_answer_then_a_503_then_the_dead_grant_is_reported_as_an_interrupted_refresh()
    {
        // Found by review: the 503's RefreshFailed cleared the marker, so the dead grant was reported as a plain grant_rejected.
        ExpectReuse = true; // the provider rotated and its answer was lost: the retry necessarily reuses
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.RotateThenReset, FakeFault.ServerError(503));

        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        var status = await StatusAsync("a1");
        Assert.True(status.RefreshTokenMaybeSpent);

        // The 503 is a definite answer about this attempt, but the earlier loss stands.
        Advance(status.RetryAt!.Value - Time.GetUtcNow());
        status = await AwaitStatusAsync("a1", s => Server.RefreshCalls("a1") == 2 && s.State == AccountState.BackingOff);
        Assert.Equal("transient", status.LastErrorClass);
        Assert.Contains("503", status.LastError);
        Assert.True(status.RefreshTokenMaybeSpent);

        Advance(status.RetryAt!.Value - Time.GetUtcNow());
        status = await AwaitStatusAsync("a1", s => s.State == AccountState.PolicyBlocked);
        Assert.Equal(3, Server.RefreshCalls("a1"));
        Assert.Equal(2, Server.RefreshTokenReuse); // both retries presented the refresh token the provider had rotated away
        Assert.Equal("interrupted_refresh", status.LastErrorClass);
        Assert.Contains("consumed by an interrupted refresh", status.LastError);
        Assert.False(status.RefreshTokenMaybeSpent); // reported: settled
    }

    [Fact]
    public async Task An_operator_block_keeps_the_marker_and_the_refresh_after_the_unblock_reports_the_loss()
    {
        // Found by review: any block, an operator's too, cleared the marker.
        ExpectReuse = true;
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.RotateThenReset);
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        Assert.True((await StatusAsync("a1")).RefreshTokenMaybeSpent);

        var blocked = Assert.IsType<StatusReply>(await AskAsync(new Block("a1", "maintenance"))).Status;
        Assert.Equal(AccountState.PolicyBlocked, blocked.State);
        Assert.True(blocked.RefreshTokenMaybeSpent);

        Assert.IsType<StatusReply>(await AskAsync(new Unblock("a1")));
        var reply = Assert.IsType<Blocked>(await AskAsync(new GetToken("a1")));
        Assert.Contains("consumed by an interrupted refresh", reply.Reason);
        Assert.Equal("interrupted_refresh", (await StatusAsync("a1")).LastErrorClass);
    }

    [Fact]
    public async Task A_full_refresh_queue_after_a_lost_answer_keeps_the_marker()
    {
        // Found by review: a refresh refused by a full limiter queue cleared the marker.
        ExpectReuse = true;
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        await RegisterAsync("hog", lifetime: TimeSpan.FromHours(8));
        Server.Script("a1", FakeFault.RotateThenReset);
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        var status = await StatusAsync("a1");
        Assert.True(status.RefreshTokenMaybeSpent);

        // Another account holds the only permit while a1's backoff ends: a1's retry finds the queue full.
        Server.Script("hog", FakeFault.Hang);
        Assert.IsType<StatusReply>(await AskAsync(new ForceRefresh("hog")));
        await AwaitAssertAsync(() => Assert.Equal(1, Server.InFlightRefreshes("hog")), Wait);
        Advance(status.RetryAt!.Value - Time.GetUtcNow());
        status = await AwaitStatusAsync("a1", s => s.State == AccountState.BackingOff && s.LastError!.Contains("queue", StringComparison.Ordinal));
        Assert.Equal(1, Server.RefreshCalls("a1"));
        Assert.True(status.RefreshTokenMaybeSpent);
    }

    private async Task<AccountStatus> AwaitStatusAsync(string id, Func<AccountStatus, bool> condition)
    {
        AccountStatus status = null!;
        await AwaitAssertAsync(async () => Assert.True(condition(status = await StatusAsync(id)), status?.ToString()), Wait);
        return status;
    }
}
