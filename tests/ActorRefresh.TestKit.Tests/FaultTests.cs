using System.Globalization;
using System.Net;
using System.Text.Json;

namespace ActorRefresh.TestKit.Tests;

public sealed class FaultTests : ServerTest
{
    private async Task AssertStillValid(string refreshToken)
    {
        using var ok = await RefreshJson(refreshToken);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task RateLimited_sends_429_with_retry_after_seconds_and_keeps_the_token()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RateLimited(TimeSpan.FromSeconds(89.2)));
        using (var response = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal("90", response.Headers.GetValues("Retry-After").Single());
            Assert.Equal(TimeSpan.FromSeconds(90), response.Headers.RetryAfter?.Delta);
            var json = await Json(response);
            Assert.Equal("rate_limit_error", json.GetProperty("error").GetProperty("type").GetString());
            Assert.Equal("Rate limited. Please try again later.", json.GetProperty("error").GetProperty("message").GetString());
        }

        Assert.Equal(first, Server.Current("a"));
        await AssertStillValid(first.RefreshToken);
        Assert.Equal(0, Server.RefreshTokenReuse);
    }

    [Fact]
    public async Task RateLimited_without_delay_sends_no_retry_after()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RateLimited(null));
        using var response = await RefreshJson(first.RefreshToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.False(response.Headers.Contains("Retry-After"));
        Assert.False(response.Headers.Contains("Retry-After-Ms"));
    }

    [Fact]
    public async Task RateLimitedUntil_sends_an_http_date()
    {
        var first = Server.CreateAccount("a");
        var until = Time.GetUtcNow().AddMinutes(3).AddMilliseconds(700);
        Server.Script("a", FakeFault.RateLimitedUntil(until));
        using var response = await RefreshJson(first.RefreshToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var header = response.Headers.GetValues("Retry-After").Single();
        Assert.EndsWith("GMT", header, StringComparison.Ordinal);
        var parsed = DateTimeOffset.ParseExact(header, "R", CultureInfo.InvariantCulture);
        Assert.Equal(Time.GetUtcNow().AddMinutes(3), parsed);
    }

    [Fact]
    public async Task RateLimitedMs_sends_retry_after_ms_only()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RateLimitedMs(1500));
        using var response = await RefreshJson(first.RefreshToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("1500", response.Headers.GetValues("Retry-After-Ms").Single());
        Assert.False(response.Headers.Contains("Retry-After"));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    public async Task ServerError_sends_the_status_with_a_json_error(int status)
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.ServerError(status));
        using (var response = await RefreshJson(first.RefreshToken))
        {
            await AssertApiError(response, status, "api_error");
        }

        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task CdnForbidden_sends_403_html_with_error_1010()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.CdnForbidden);
        using (var response = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("error code: 1010", body, StringComparison.Ordinal);
            Assert.StartsWith("<!DOCTYPE html>", body, StringComparison.Ordinal);
        }

        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task PolicyForbidden_sends_403_permission_error()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.PolicyForbidden(), FakeFault.PolicyForbidden("Nope."));
        using (var response = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            await AssertApiError(response, 403, "permission_error", "OAuth authentication is currently not allowed for this organization.");
        }

        using (var response = await RefreshJson(first.RefreshToken))
        {
            await AssertApiError(response, 403, "permission_error", "Nope.");
        }

        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task InvalidGrant_sends_400_and_keeps_the_token()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.InvalidGrant(), FakeFault.InvalidGrant("Refresh token expired"));
        using (var response = await RefreshJson(first.RefreshToken))
        {
            await AssertOAuthError(response, "invalid_grant", "Refresh token not found or invalid");
        }

        using (var response = await RefreshJson(first.RefreshToken))
        {
            await AssertOAuthError(response, "invalid_grant", "Refresh token expired");
        }

        Assert.Equal(0, Server.RefreshTokenReuse);
        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task BadRequest_sends_the_given_oauth_error()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.BadRequest("invalid_request", "Invalid request format"));
        using (var response = await RefreshJson(first.RefreshToken))
        {
            await AssertOAuthError(response, "invalid_request", "Invalid request format");
        }

        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task MalformedJson_sends_200_with_an_unparseable_body_and_keeps_the_token()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.MalformedJson);
        using (var response = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var body = await response.Content.ReadAsStringAsync();
            Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(body));
        }

        Assert.Equal(first, Server.Current("a"));
        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task NoRotation_omits_refresh_token_and_the_old_one_stays_valid()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.NoRotation);
        string access;
        using (var response = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = await Json(response);
            Assert.False(json.TryGetProperty("refresh_token", out _));
            access = json.GetProperty("access_token").GetString()!;
            Assert.Equal(28800, json.GetProperty("expires_in").GetInt64());
        }

        Assert.NotEqual(first.AccessToken, access);
        Assert.Equal(new FakeAccountTokens(access, first.RefreshToken, Time.GetUtcNow().AddHours(8)), Server.Current("a"));
        using (var usage = await GetUsage(access))
        {
            Assert.Equal(HttpStatusCode.OK, usage.StatusCode);
        }

        await AssertStillValid(first.RefreshToken);
        Assert.Equal(0, Server.RefreshTokenReuse);
    }

    [Fact]
    public async Task ConnectionReset_aborts_without_an_answer_and_keeps_the_token()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.ConnectionReset);
        await Assert.ThrowsAsync<HttpRequestException>(() => RefreshJson(first.RefreshToken));
        Assert.Equal(first, Server.Current("a"));
        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task RotateThenReset_consumes_the_token_but_loses_the_answer()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.RotateThenReset);
        await Assert.ThrowsAsync<HttpRequestException>(() => RefreshJson(first.RefreshToken));
        var current = Server.Current("a");
        Assert.NotEqual(first.RefreshToken, current.RefreshToken);
        using var replay = await RefreshJson(first.RefreshToken);
        await AssertOAuthError(replay, "invalid_grant");
        Assert.Equal(1, Server.RefreshTokenReuse);
    }

    [Fact]
    public async Task Hang_never_answers_until_the_client_gives_up()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.Hang);
        using var cts = new CancellationTokenSource();
        var call = RefreshJson(first.RefreshToken, ct: cts.Token);
        await Until(() => Server.InFlightRefreshes("a") == 1);
        Time.Advance(TimeSpan.FromDays(1));
        Assert.False(call.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        await Until(() => Server.InFlightRefreshes("a") == 0);
        Assert.Equal(first, Server.Current("a"));
        await AssertStillValid(first.RefreshToken);
    }

    [Fact]
    public async Task Delay_waits_on_the_server_clock_then_answers_normally()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.Delay(TimeSpan.FromSeconds(30)));
        var call = RefreshJson(first.RefreshToken);
        await Until(() => Server.DelayedRequests == 1);
        Time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(call.IsCompleted);
        Time.Advance(TimeSpan.FromSeconds(1));
        using var response = await call;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual(first.RefreshToken, Server.Current("a").RefreshToken);
        Assert.Equal(0, Server.DelayedRequests);
    }

    [Fact]
    public async Task After_waits_on_the_server_clock_then_answers_with_the_given_fault_consuming_nothing()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.After(TimeSpan.FromSeconds(5), FakeFault.ServerError(503)));
        var call = RefreshJson(first.RefreshToken);
        await Until(() => Server.DelayedRequests == 1);
        Time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(call.IsCompleted);
        Assert.Equal(1, Server.CountersOf("a").InFlight);
        Time.Advance(TimeSpan.FromSeconds(1));
        using var response = await call;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(first, Server.Current("a"));
        await AssertStillValid(first.RefreshToken);
        Assert.Throws<ArgumentException>(() => FakeFault.After(TimeSpan.Zero, FakeFault.RotateOnReceipt(TimeSpan.Zero)));
    }

    [Fact]
    public async Task Scripted_faults_are_consumed_in_order_then_normal()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.ServerError(), FakeFault.RateLimited(TimeSpan.FromSeconds(1)));
        Server.Script("a", FakeFault.CdnForbidden);
        var statuses = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await RefreshJson(first.RefreshToken);
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal(new[] { 500, 429, 403, 200 }, statuses);
        Assert.Equal(4, Server.RefreshCalls("a"));
    }

    [Fact]
    public async Task Global_script_applies_to_any_account_after_the_accounts_own()
    {
        var a = Server.CreateAccount("a");
        var b = Server.CreateAccount("b");
        Server.Script("*", FakeFault.ServerError(503), FakeFault.ServerError(502));
        Server.Script("b", FakeFault.PolicyForbidden());
        using (var r = await RefreshJson(b.RefreshToken))
        {
            Assert.Equal(403, (int)r.StatusCode);
        }

        using (var r = await RefreshJson(a.RefreshToken))
        {
            Assert.Equal(503, (int)r.StatusCode);
        }

        using (var r = await RefreshJson("sk-ant-ort01-unknown"))
        {
            Assert.Equal(502, (int)r.StatusCode);
        }

        using (var r = await RefreshJson(b.RefreshToken))
        {
            Assert.Equal(200, (int)r.StatusCode);
        }
    }

    [Fact]
    public async Task Persistent_fault_applies_until_cleared_and_scripts_go_first()
    {
        var first = Server.CreateAccount("a");
        Server.SetPersistentFault("a", FakeFault.ServerError(503));
        Server.Script("a", FakeFault.RateLimited(null));
        var statuses = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await RefreshJson(first.RefreshToken);
            statuses.Add((int)response.StatusCode);
        }

        Server.SetPersistentFault("a", null);
        using (var ok = await RefreshJson(first.RefreshToken))
        {
            statuses.Add((int)ok.StatusCode);
        }

        Assert.Equal(new[] { 429, 503, 503, 200 }, statuses);

        Server.SetPersistentFault("*", FakeFault.CdnForbidden);
        using (var r = await RefreshJson(Server.Current("a").RefreshToken))
        {
            Assert.Equal(403, (int)r.StatusCode);
        }

        Server.SetPersistentFault("*", null);
        await AssertStillValid(Server.Current("a").RefreshToken);
    }

    [Fact]
    public async Task Faulted_request_with_a_consumed_token_still_counts_as_reuse()
    {
        var first = Server.CreateAccount("a");
        Server.RotateExternally("a");
        Server.Script("a", FakeFault.ServerError());
        using var response = await RefreshJson(first.RefreshToken);
        Assert.Equal(500, (int)response.StatusCode);
        Assert.Equal(1, Server.RefreshTokenReuse);
    }

    [Fact]
    public void Star_is_not_an_account_id()
    {
        Assert.Throws<ArgumentException>(() => Server.CreateAccount("*"));
    }
}
