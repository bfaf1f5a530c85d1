using System.Net;

namespace ActorRefresh.TestKit.Tests;

/// <summary>Per-account counters: each account's reuse, overlap, calls during backoff, rotations and lost answers.</summary>
public sealed class AccountCounterTests : ServerTest
{
    [Fact]
    public async Task Reuse_overlap_and_backoff_calls_are_counted_for_the_account_that_caused_them_only()
    {
        var a = Server.CreateAccount("a");
        var b = Server.CreateAccount("b");

        // a: a refresh, then its consumed token presented again (reuse).
        using (var ok = await RefreshJson(a.RefreshToken)) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var reused = await RefreshJson(a.RefreshToken)) await AssertOAuthError(reused, "invalid_grant");

        // b: a 429 with Retry-After, then a call before the deadline; and an overlap during a delayed request.
        Server.Script("b", FakeFault.RateLimited(TimeSpan.FromSeconds(30)));
        using (var limited = await RefreshJson(b.RefreshToken)) Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Time.Advance(TimeSpan.FromSeconds(31));
        Server.Script("b", FakeFault.Delay(TimeSpan.FromSeconds(5)));
        var slow = RefreshJson(b.RefreshToken);
        await Until(() => Server.DelayedRequests == 1);
        Server.Script("b", FakeFault.RateLimited(TimeSpan.FromSeconds(60)));
        using (var overlapping = await RefreshJson(b.RefreshToken)) Assert.Equal(HttpStatusCode.TooManyRequests, overlapping.StatusCode);
        using (var early = await RefreshJson(b.RefreshToken)) Assert.Equal(HttpStatusCode.OK, early.StatusCode);
        Time.Advance(TimeSpan.FromSeconds(5));
        using (var late = await slow) await AssertOAuthError(late, "invalid_grant");

        Assert.Equal(new FakeAccountCounters(RefreshCalls: 2, UsageCalls: 0, RefreshTokenReuse: 1, OverlappingRefreshes: 0,
            CallsDuringBackoff: 0, InFlight: 0, Rotations: 1, AnswersLost: 0), Server.CountersOf("a"));
        // The delayed request found its token consumed by "early": reuse. "overlapping" and "early" arrived during it.
        Assert.Equal(new FakeAccountCounters(RefreshCalls: 4, UsageCalls: 0, RefreshTokenReuse: 1, OverlappingRefreshes: 2,
            CallsDuringBackoff: 1, InFlight: 0, Rotations: 1, AnswersLost: 0), Server.CountersOf("b"));

        // The server-wide counters are still the sums.
        Assert.Equal(2, Server.RefreshTokenReuse);
        Assert.Equal(2, Server.OverlappingRefreshes);
        Assert.Equal(1, Server.CallsDuringBackoff);
        Assert.Equal(FakeAccountCounters.None, Server.CountersOf("never-seen"));
    }

    [Fact]
    public async Task ResetCounters_zeroes_the_per_account_counters_too()
    {
        var a = Server.CreateAccount("a");
        using (var ok = await RefreshJson(a.RefreshToken)) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var reused = await RefreshJson(a.RefreshToken)) await AssertOAuthError(reused, "invalid_grant");
        Server.ResetCounters();
        Assert.Equal(FakeAccountCounters.None, Server.CountersOf("a"));
    }

    [Fact]
    public async Task RotateThenReset_counts_a_rotation_whose_answer_was_lost()
    {
        var a = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RotateThenReset);
        await Assert.ThrowsAsync<HttpRequestException>(() => RefreshJson(a.RefreshToken));
        var counters = Server.CountersOf("a");
        Assert.Equal((1, 1, 0), (counters.Rotations, counters.AnswersLost, counters.RefreshTokenReuse));
        Assert.NotEqual(a.RefreshToken, Server.Current("a").RefreshToken);
    }

    [Fact]
    public async Task RotateOnReceipt_rotates_before_it_answers_and_the_answer_carries_the_new_pair()
    {
        var a = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RotateOnReceipt(TimeSpan.FromSeconds(20)));
        var pending = RefreshJson(a.RefreshToken);
        await Until(() => Server.DelayedRequests == 1);

        // Rotated while the answer is still on its way.
        var rotated = Server.Current("a");
        Assert.NotEqual(a.RefreshToken, rotated.RefreshToken);
        Assert.Equal((1, 0, 1), (Server.CountersOf("a").Rotations, Server.CountersOf("a").AnswersLost, Server.CountersOf("a").InFlight));
        Assert.False(pending.IsCompleted);

        Time.Advance(TimeSpan.FromSeconds(20));
        using var answer = await pending;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var json = await Json(answer);
        Assert.Equal(rotated.RefreshToken, json.GetProperty("refresh_token").GetString());
        Assert.Equal(rotated.AccessToken, json.GetProperty("access_token").GetString());
        Assert.Equal(new FakeAccountCounters(1, 0, 0, 0, 0, 0, 1, 0), Server.CountersOf("a"));
    }

    [Fact]
    public async Task RotateOnReceipt_keeps_the_rotation_when_the_client_goes_away_and_counts_the_answer_lost()
    {
        var a = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RotateOnReceipt(TimeSpan.FromMinutes(5)));
        using var gone = new CancellationTokenSource();
        var pending = RefreshJson(a.RefreshToken, ct: gone.Token);
        await Until(() => Server.DelayedRequests == 1);
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await Until(() => Server.CountersOf("a").InFlight == 0);

        var counters = Server.CountersOf("a");
        Assert.Equal((1, 1), (counters.Rotations, counters.AnswersLost));
        // The client never saw the new pair; presenting the old refresh token again is reuse.
        using (var again = await RefreshJson(a.RefreshToken)) await AssertOAuthError(again, "invalid_grant");
        Assert.Equal(1, Server.CountersOf("a").RefreshTokenReuse);
    }

    [Fact]
    public async Task Latency_cut_short_by_the_client_consumes_nothing()
    {
        // The contrast with RotateOnReceipt: a Delay waits before processing, so a client gone during it leaves the token valid.
        var a = Server.CreateAccount("a");
        Server.Script("a", FakeFault.Delay(TimeSpan.FromMinutes(5)));
        using var gone = new CancellationTokenSource();
        var pending = RefreshJson(a.RefreshToken, ct: gone.Token);
        await Until(() => Server.DelayedRequests == 1);
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await Until(() => Server.CountersOf("a").InFlight == 0);
        Assert.Equal((0, 0), (Server.CountersOf("a").Rotations, Server.CountersOf("a").AnswersLost));
        Assert.Equal(a.RefreshToken, Server.Current("a").RefreshToken);
    }
}
