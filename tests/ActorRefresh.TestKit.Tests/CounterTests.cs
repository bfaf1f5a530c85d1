using System.Net;

namespace ActorRefresh.TestKit.Tests;

public sealed class CounterTests : ServerTest
{
    [Fact]
    public async Task Second_request_during_a_delayed_refresh_counts_as_overlap()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.Delay(TimeSpan.FromSeconds(10)));
        var slow = RefreshJson(first.RefreshToken);
        await Until(() => Server.DelayedRequests == 1);

        // Same token, sent while the first is still being processed: it wins the rotation.
        using (var fast = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, fast.StatusCode);
        }

        Assert.Equal(1, Server.OverlappingRefreshes);
        Assert.Equal(2, Server.MaxConcurrentRefreshes);
        Time.Advance(TimeSpan.FromSeconds(10));
        using (var late = await slow)
        {
            await AssertOAuthError(late, "invalid_grant");
        }

        Assert.Equal(1, Server.OverlappingRefreshes);
        Assert.Equal(1, Server.RefreshTokenReuse);
        Assert.Equal(0, Server.InFlightRefreshes("a"));
    }

    [Fact]
    public async Task Request_during_a_hang_counts_as_overlap()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.Hang);
        using var cts = new CancellationTokenSource();
        var hung = RefreshJson(first.RefreshToken, ct: cts.Token);
        await Until(() => Server.InFlightRefreshes("a") == 1);
        using (var ok = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.Equal(1, Server.OverlappingRefreshes);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hung);
    }

    [Fact]
    public async Task Sequential_refreshes_and_other_accounts_do_not_overlap()
    {
        var a = Server.CreateAccount("a");
        var b = Server.CreateAccount("b");
        Server.Script("a", FakeFault.Delay(TimeSpan.FromSeconds(5)));
        var slow = RefreshJson(a.RefreshToken);
        await Until(() => Server.DelayedRequests == 1);
        using (var other = await RefreshJson(b.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        Time.Advance(TimeSpan.FromSeconds(5));
        using (var done = await slow)
        {
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        }

        using (var next = await RefreshJson(Server.Current("a").RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        }

        Assert.Equal(0, Server.OverlappingRefreshes);
        Assert.Equal(2, Server.MaxConcurrentRefreshes);
    }

    [Fact]
    public async Task Latency_holds_every_answer_and_counts_as_in_flight()
    {
        await using var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time, Latency = TimeSpan.FromMilliseconds(200) });
        var first = server.CreateAccount("a");
        using var http = new HttpClient();
        var call = http.PostAsync(server.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = first.RefreshToken,
        }));
        await Until(() => server.DelayedRequests == 1);
        Assert.Equal(1, server.InFlightRefreshes("a"));
        Time.Advance(TimeSpan.FromMilliseconds(200));
        using var response = await call;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Call_before_retry_after_passes_counts_as_during_backoff()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RateLimited(TimeSpan.FromSeconds(60)));
        using (var limited = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        }

        Assert.Equal(0, Server.CallsDuringBackoff);
        Time.Advance(TimeSpan.FromSeconds(59));
        using (var early = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, early.StatusCode);
        }

        Assert.Equal(1, Server.CallsDuringBackoff);
        Time.Advance(TimeSpan.FromSeconds(1));
        using (var onTime = await RefreshJson(Server.Current("a").RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, onTime.StatusCode);
        }

        Assert.Equal(1, Server.CallsDuringBackoff);
    }

    [Fact]
    public async Task Backoff_deadline_follows_http_date_and_milliseconds_forms_per_account()
    {
        var a = Server.CreateAccount("a");
        var b = Server.CreateAccount("b");
        Server.Script("a", FakeFault.RateLimitedUntil(Time.GetUtcNow().AddMinutes(2)));
        Server.Script("b", FakeFault.RateLimitedMs(500));
        using (await RefreshJson(a.RefreshToken))
        using (await RefreshJson(b.RefreshToken))
        {
        }

        Time.Advance(TimeSpan.FromMilliseconds(499));
        using (await RefreshJson(b.RefreshToken))
        {
        }

        Assert.Equal(1, Server.CallsDuringBackoff);
        Time.Advance(TimeSpan.FromMilliseconds(1));
        using (await RefreshJson(Server.Current("b").RefreshToken))
        {
        }

        Assert.Equal(1, Server.CallsDuringBackoff);
        using (await RefreshJson(a.RefreshToken))
        {
        }

        Assert.Equal(2, Server.CallsDuringBackoff);
        Time.Advance(TimeSpan.FromMinutes(2));
        using (var ok = await RefreshJson(Server.Current("a").RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.Equal(2, Server.CallsDuringBackoff);
    }

    [Fact]
    public async Task Usage_rate_limit_does_not_arm_refresh_backoff()
    {
        var first = Server.CreateAccount("a");
        Server.ScriptUsage("a", FakeUsageFault.RateLimited(TimeSpan.FromMinutes(5)));
        using (var usage = await GetUsage(first.AccessToken))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, usage.StatusCode);
        }

        using (await RefreshJson(first.RefreshToken))
        {
        }

        Assert.Equal(0, Server.CallsDuringBackoff);
    }
}
