using System.Globalization;
using System.Net;

namespace ActorRefresh.TestKit.Tests;

public sealed class UsageTests : ServerTest
{
    [Fact]
    public async Task Current_token_gets_the_usage_shape()
    {
        var first = Server.CreateAccount("a");
        var fiveReset = Time.GetUtcNow().AddHours(2);
        var sevenReset = Time.GetUtcNow().AddDays(3);
        Server.SetUsage("a", 42.5, 10, fiveReset, sevenReset);
        using var response = await GetUsage(first.AccessToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = await Json(response);
        Assert.Equal(42.5, json.GetProperty("five_hour").GetProperty("utilization").GetDouble());
        Assert.Equal(fiveReset, DateTimeOffset.Parse(json.GetProperty("five_hour").GetProperty("resets_at").GetString()!, CultureInfo.InvariantCulture));
        Assert.Equal(10, json.GetProperty("seven_day").GetProperty("utilization").GetDouble());
        Assert.Equal(sevenReset, DateTimeOffset.Parse(json.GetProperty("seven_day").GetProperty("resets_at").GetString()!, CultureInfo.InvariantCulture));
        var limits = json.GetProperty("limits").EnumerateArray().ToArray();
        Assert.Equal("five_hour", limits[0].GetProperty("kind").GetString());
        Assert.Equal(42.5, limits[0].GetProperty("percent").GetDouble());
        Assert.Equal("seven_day", limits[1].GetProperty("kind").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, json.GetProperty("extra_usage").ValueKind);
        Assert.Equal(1, Server.UsageCalls("a"));
    }

    [Fact]
    public async Task Default_usage_is_zero_with_windows_from_now()
    {
        var first = Server.CreateAccount("a");
        using var response = await GetUsage(first.AccessToken);
        var json = await Json(response);
        Assert.Equal(0, json.GetProperty("five_hour").GetProperty("utilization").GetDouble());
        Assert.Equal(Time.GetUtcNow().AddHours(5), DateTimeOffset.Parse(json.GetProperty("five_hour").GetProperty("resets_at").GetString()!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Expired_token_gets_401_after_the_lifetime_passes()
    {
        var first = Server.CreateAccount("a");
        Time.Advance(TimeSpan.FromHours(8) - TimeSpan.FromSeconds(1));
        using (var ok = await GetUsage(first.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Time.Advance(TimeSpan.FromSeconds(1));
        using (var expired = await GetUsage(first.AccessToken))
        {
            await AssertApiError(expired, 401, "authentication_error", "OAuth token has expired.");
        }

        using var refreshed = await RefreshJson(first.RefreshToken);
        var access = (await Json(refreshed)).GetProperty("access_token").GetString()!;
        using var again = await GetUsage(access);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task Revoked_replaced_unknown_and_missing_tokens_get_401()
    {
        var first = Server.CreateAccount("a");
        Server.RevokeAccessToken("a");
        using (var revoked = await GetUsage(first.AccessToken))
        {
            await AssertApiError(revoked, 401, "authentication_error");
        }

        var second = Server.RotateExternally("a");
        using (var replaced = await GetUsage(first.AccessToken))
        {
            await AssertApiError(replaced, 401, "authentication_error");
        }

        using (var current = await GetUsage(second.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, current.StatusCode);
        }

        using (var unknown = await GetUsage("sk-ant-oat01-unknown"))
        {
            await AssertApiError(unknown, 401, "authentication_error");
        }

        using (var missing = await Http.GetAsync(Server.UsageEndpoint))
        {
            await AssertApiError(missing, 401, "authentication_error");
        }

        Assert.Equal(3, Server.UsageCalls("a"));
    }

    [Fact]
    public async Task Scripted_usage_faults_have_their_wire_shapes_then_normal()
    {
        var first = Server.CreateAccount("a");
        Server.ScriptUsage(
            "a",
            FakeUsageFault.RateLimited(TimeSpan.FromSeconds(30)),
            FakeUsageFault.RateLimited(null),
            FakeUsageFault.Unauthorized,
            FakeUsageFault.PolicyForbidden,
            FakeUsageFault.CdnForbidden,
            FakeUsageFault.ServerError(502));

        using (var r = await GetUsage(first.AccessToken))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(30), r.Headers.RetryAfter?.Delta);
            Assert.Equal("rate_limit_error", (await Json(r)).GetProperty("error").GetProperty("type").GetString());
        }

        using (var r = await GetUsage(first.AccessToken))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.Null(r.Headers.RetryAfter);
        }

        using (var r = await GetUsage(first.AccessToken))
        {
            await AssertApiError(r, 401, "authentication_error");
        }

        using (var r = await GetUsage(first.AccessToken))
        {
            await AssertApiError(r, 403, "permission_error", "OAuth authentication is currently not allowed for this organization.");
        }

        using (var r = await GetUsage(first.AccessToken))
        {
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.Equal("text/html", r.Content.Headers.ContentType?.MediaType);
            Assert.Contains("error code: 1010", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var r = await GetUsage(first.AccessToken))
        {
            await AssertApiError(r, 502, "api_error");
        }

        using (var r = await GetUsage(first.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        Assert.Equal(7, Server.UsageCalls("a"));
        Assert.Equal(0, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Global_usage_script_applies_after_the_accounts_own()
    {
        var a = Server.CreateAccount("a");
        var b = Server.CreateAccount("b");
        Server.ScriptUsage("*", FakeUsageFault.ServerError());
        Server.ScriptUsage("a", FakeUsageFault.Unauthorized);
        using (var r = await GetUsage(a.AccessToken))
        {
            Assert.Equal(401, (int)r.StatusCode);
        }

        using (var r = await GetUsage(b.AccessToken))
        {
            Assert.Equal(500, (int)r.StatusCode);
        }

        using (var r = await GetUsage(a.AccessToken))
        {
            Assert.Equal(200, (int)r.StatusCode);
        }
    }
}
