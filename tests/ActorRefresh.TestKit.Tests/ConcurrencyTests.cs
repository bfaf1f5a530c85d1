using System.Diagnostics;
using System.Net;

namespace ActorRefresh.TestKit.Tests;

public sealed class ConcurrencyTests : ServerTest
{
    [Fact]
    public async Task Thousand_concurrent_refresh_chains_across_100_accounts_stay_consistent()
    {
        var ids = Enumerable.Range(0, 100).Select(i => $"acct-{i}").ToArray();
        var initial = ids.ToDictionary(id => id, id => Server.CreateAccount(id));

        // 100 accounts refresh at once, each a chain of 10 (a well-behaved client never overlaps itself).
        var finals = await Task.WhenAll(ids.Select(async id =>
        {
            var refresh = initial[id].RefreshToken;
            string access = initial[id].AccessToken;
            for (var i = 0; i < 10; i++)
            {
                using var response = await RefreshJson(refresh);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var json = await Json(response);
                refresh = json.GetProperty("refresh_token").GetString()!;
                access = json.GetProperty("access_token").GetString()!;
            }

            return (id, access, refresh);
        }));

        foreach (var (id, access, refresh) in finals)
        {
            Assert.Equal(access, Server.Current(id).AccessToken);
            Assert.Equal(refresh, Server.Current(id).RefreshToken);
            Assert.Equal(10, Server.RefreshCalls(id));
            Assert.Equal(0, Server.InFlightRefreshes(id));
        }

        Assert.Equal(1000, Server.TotalRefreshCalls);
        Assert.Equal(0, Server.RefreshTokenReuse);
        Assert.Equal(0, Server.OverlappingRefreshes);
        Assert.Equal(0, Server.CallsDuringBackoff);
        Assert.InRange(Server.MaxConcurrentRefreshes, 1, 100);
        Assert.Equal(2 * 100 + 2 * 1000, Server.IssuedTokens.Count);
        Assert.Equal(Server.IssuedTokens.Count, Server.IssuedTokens.Distinct().Count());
    }

    [Fact]
    public async Task Thousand_simultaneous_refreshes_with_shared_tokens_have_one_winner_per_account()
    {
        var ids = Enumerable.Range(0, 100).Select(i => $"acct-{i}").ToArray();
        var initial = ids.ToDictionary(id => id, id => Server.CreateAccount(id));

        // A stampede: 10 callers per account all present the same refresh token at once.
        var results = await Task.WhenAll(ids.SelectMany(id => Enumerable.Range(0, 10).Select(async _ =>
        {
            using var response = await RefreshJson(initial[id].RefreshToken);
            var json = await Json(response);
            return (id, status: (int)response.StatusCode, refresh: response.IsSuccessStatusCode ? json.GetProperty("refresh_token").GetString() : null);
        })));

        foreach (var group in results.GroupBy(r => r.id))
        {
            var winners = group.Where(r => r.status == 200).ToArray();
            Assert.Single(winners);
            Assert.All(group.Where(r => r.status != 200), r => Assert.Equal(400, r.status));
            Assert.Equal(Server.Current(group.Key).RefreshToken, winners[0].refresh);
            Assert.Equal(10, Server.RefreshCalls(group.Key));
        }

        Assert.Equal(1000, Server.TotalRefreshCalls);
        Assert.Equal(900, Server.RefreshTokenReuse);
        Assert.True(Server.MaxConcurrentRefreshes >= 1);
        Assert.InRange(Server.OverlappingRefreshes, 0, 900);
    }

    [Fact]
    public async Task Max_concurrent_refreshes_is_the_global_peak()
    {
        var accounts = Enumerable.Range(0, 5).Select(i => Server.CreateAccount($"p{i}")).ToArray();
        Server.SetPersistentFault("*", FakeFault.Delay(TimeSpan.FromSeconds(1)));
        var calls = accounts.Select(a => RefreshJson(a.RefreshToken)).ToArray();
        await Until(() => Server.DelayedRequests == 5);
        Assert.Equal(5, Server.MaxConcurrentRefreshes);
        Assert.Equal(0, Server.OverlappingRefreshes);
        Time.Advance(TimeSpan.FromSeconds(1));
        foreach (var response in await Task.WhenAll(calls))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        Assert.Equal(5, Server.MaxConcurrentRefreshes);
    }

    [Fact]
    public async Task Dispose_stops_promptly_with_hanging_and_delayed_requests()
    {
        var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time });
        var a = server.CreateAccount("a");
        var b = server.CreateAccount("b");
        server.Script("a", FakeFault.Hang);
        server.Script("b", FakeFault.Delay(TimeSpan.FromDays(1)));
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var hanging = http.PostAsync(server.TokenEndpoint, Form(a.RefreshToken));
        var delayed = http.PostAsync(server.TokenEndpoint, Form(b.RefreshToken));
        await Until(() => server.InFlightRefreshes("a") == 1 && server.DelayedRequests == 1);

        var watch = Stopwatch.StartNew();
        await server.DisposeAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"dispose took {watch.Elapsed}");
        await Assert.ThrowsAsync<HttpRequestException>(() => hanging);
        await Assert.ThrowsAsync<HttpRequestException>(() => delayed);
        await server.DisposeAsync();
    }

    private static FormUrlEncodedContent Form(string refreshToken) => new(new Dictionary<string, string>
    {
        ["grant_type"] = "refresh_token",
        ["refresh_token"] = refreshToken,
    });
}
