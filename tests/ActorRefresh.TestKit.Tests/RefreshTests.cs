using System.Net;

namespace ActorRefresh.TestKit.Tests;

public sealed class RefreshTests : ServerTest
{
    [Fact]
    public async Task Server_listens_on_loopback_with_a_free_port()
    {
        Assert.Equal("127.0.0.1", Server.BaseAddress.Host);
        Assert.NotEqual(0, Server.BaseAddress.Port);
        Assert.Equal(new Uri(Server.BaseAddress, "/v1/oauth/token"), Server.TokenEndpoint);
        Assert.Equal(new Uri(Server.BaseAddress, "/api/oauth/usage"), Server.UsageEndpoint);
        using var response = await Http.GetAsync(new Uri(Server.BaseAddress, "/nothing"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public void Created_account_gets_claude_shaped_unique_tokens()
    {
        var a = Server.CreateAccount("a");
        var b = Server.CreateAccount("b");
        Assert.StartsWith("sk-ant-oat01-", a.AccessToken, StringComparison.Ordinal);
        Assert.StartsWith("sk-ant-ort01-", a.RefreshToken, StringComparison.Ordinal);
        Assert.Equal(Time.GetUtcNow() + TimeSpan.FromHours(8), a.ExpiresAt);
        Assert.Equal(4, new[] { a.AccessToken, a.RefreshToken, b.AccessToken, b.RefreshToken }.Distinct().Count());
        Assert.Equal(a, Server.Current("a"));
        Assert.Throws<InvalidOperationException>(() => Server.CreateAccount("a"));
        Assert.Throws<KeyNotFoundException>(() => Server.Current("missing"));
    }

    [Fact]
    public void Token_pair_text_never_shows_a_token()
    {
        var pair = Server.CreateAccount("a");
        Assert.DoesNotContain(pair.AccessToken, pair.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(pair.RefreshToken, pair.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant", pair.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refresh_rotates_consumes_the_old_token_and_the_new_one_works()
    {
        var first = Server.CreateAccount("a");
        using var ok = await RefreshJson(first.RefreshToken);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var json = await Json(ok);
        var access = json.GetProperty("access_token").GetString()!;
        var refresh = json.GetProperty("refresh_token").GetString()!;
        Assert.StartsWith("sk-ant-oat01-", access, StringComparison.Ordinal);
        Assert.StartsWith("sk-ant-ort01-", refresh, StringComparison.Ordinal);
        Assert.NotEqual(first.AccessToken, access);
        Assert.NotEqual(first.RefreshToken, refresh);
        Assert.Equal(28800, json.GetProperty("expires_in").GetInt64());
        Assert.Equal("Bearer", json.GetProperty("token_type").GetString());
        Assert.Equal("user:profile user:inference", json.GetProperty("scope").GetString());
        Assert.True(Guid.TryParse(json.GetProperty("account").GetProperty("uuid").GetString(), out _));
        Assert.Equal("a@example.com", json.GetProperty("account").GetProperty("email_address").GetString());
        Assert.True(Guid.TryParse(json.GetProperty("organization").GetProperty("uuid").GetString(), out _));
        Assert.False(string.IsNullOrEmpty(json.GetProperty("organization").GetProperty("name").GetString()));
        Assert.Equal(new FakeAccountTokens(access, refresh, Time.GetUtcNow().AddHours(8)), Server.Current("a"));

        using var reused = await RefreshJson(first.RefreshToken);
        await AssertOAuthError(reused, "invalid_grant", "Refresh token not found or invalid");
        Assert.Equal(1, Server.RefreshTokenReuse);

        using var again = await RefreshJson(refresh);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(3, Server.RefreshCalls("a"));
        Assert.Equal(3, Server.TotalRefreshCalls);
        Assert.Equal(0, Server.OverlappingRefreshes);
    }

    [Fact]
    public async Task Unknown_token_is_invalid_grant_but_not_reuse()
    {
        Server.CreateAccount("a");
        using var response = await RefreshJson("sk-ant-ort01-nobody");
        await AssertOAuthError(response, "invalid_grant", "Refresh token not found or invalid");
        Assert.Equal(0, Server.RefreshTokenReuse);
        Assert.Equal(0, Server.RefreshCalls("a"));
        Assert.Equal(1, Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Form_body_refreshes_like_json()
    {
        var first = Server.CreateAccount("a");
        using var ok = await RefreshForm(first.RefreshToken);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var json = await Json(ok);
        Assert.Equal(Server.Current("a").RefreshToken, json.GetProperty("refresh_token").GetString());
        Assert.Equal(FakeTokenServer.DefaultScope, json.GetProperty("scope").GetString());

        using var reused = await RefreshForm(first.RefreshToken);
        await AssertOAuthError(reused, "invalid_grant");
        Assert.Equal(1, Server.RefreshTokenReuse);
    }

    [Fact]
    public async Task Wrong_grant_type_is_unsupported_in_both_body_forms()
    {
        var first = Server.CreateAccount("a");
        using (var json = await RefreshJson(first.RefreshToken, grantType: "client_credentials"))
        {
            await AssertOAuthError(json, "unsupported_grant_type");
        }

        using (var form = await RefreshForm(first.RefreshToken, grantType: "password"))
        {
            await AssertOAuthError(form, "unsupported_grant_type");
        }

        Assert.Equal(first, Server.Current("a"));
        Assert.Equal(0, Server.RefreshCalls("a"));
    }

    [Theory]
    [InlineData("{\"grant_type\":\"refresh_token\",")]
    [InlineData("not json at all")]
    [InlineData("[1,2]")]
    [InlineData("{\"grant_type\":\"refresh_token\",\"refresh_token\":42}")]
    [InlineData("{\"grant_type\":\"refresh_token\"}")]
    [InlineData("{\"refresh_token\":\"sk-ant-ort01-x\"}")]
    [InlineData("")]
    public async Task Malformed_body_is_invalid_request(string body)
    {
        using var response = await PostRaw(body, "application/json");
        await AssertOAuthError(response, "invalid_request");
        Assert.Equal(0, Server.RefreshTokenReuse);
    }

    [Fact]
    public async Task Form_body_without_refresh_token_is_invalid_request()
    {
        using var response = await Http.PostAsync(Server.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
        }));
        await AssertOAuthError(response, "invalid_request");
    }

    [Fact]
    public async Task Malformed_requests_consume_no_scripted_fault()
    {
        var first = Server.CreateAccount("a");
        Server.Script("a", FakeFault.ServerError());
        using (var bad = await RefreshJson(first.RefreshToken, grantType: "client_credentials"))
        {
            await AssertOAuthError(bad, "unsupported_grant_type");
        }

        using var faulted = await RefreshJson(first.RefreshToken);
        Assert.Equal(500, (int)faulted.StatusCode);
    }

    [Fact]
    public async Task Null_fault_is_refused_without_queueing_the_others()
    {
        var first = Server.CreateAccount("a");
        Assert.Throws<ArgumentException>(() => Server.Script("a", FakeFault.ServerError(), null!));
        Assert.Throws<ArgumentException>(() => Server.ScriptUsage("a", null!, FakeUsageFault.Unauthorized));
        using var ok = await RefreshJson(first.RefreshToken);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Method_other_than_post_is_refused()
    {
        using var response = await Http.GetAsync(Server.TokenEndpoint);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Fact]
    public async Task Rotation_can_be_turned_off()
    {
        await using var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Time = Time, RotateRefreshTokens = false });
        var first = server.CreateAccount("a");
        using var http = new HttpClient();
        for (var i = 0; i < 2; i++)
        {
            using var response = await http.PostAsync(server.TokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token",
                ["refresh_token"] = first.RefreshToken,
            }));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(first.RefreshToken, (await Json(response)).GetProperty("refresh_token").GetString());
        }

        Assert.Equal(0, server.RefreshTokenReuse);
        Assert.NotEqual(first.AccessToken, server.Current("a").AccessToken);
    }

    [Fact]
    public async Task RotateExternally_consumes_the_gateways_refresh_token()
    {
        var mine = Server.CreateAccount("a");
        var theirs = Server.RotateExternally("a");
        Assert.NotEqual(mine.RefreshToken, theirs.RefreshToken);
        Assert.NotEqual(mine.AccessToken, theirs.AccessToken);
        Assert.Equal(theirs, Server.Current("a"));
        Assert.Equal(0, Server.TotalRefreshCalls);

        using var stale = await RefreshJson(mine.RefreshToken);
        await AssertOAuthError(stale, "invalid_grant", "Refresh token not found or invalid");
        Assert.Equal(1, Server.RefreshTokenReuse);

        using var adopted = await RefreshJson(theirs.RefreshToken);
        Assert.Equal(HttpStatusCode.OK, adopted.StatusCode);
    }

    [Fact]
    public void IssuedTokens_lists_every_access_and_refresh_token()
    {
        var first = Server.CreateAccount("a");
        var second = Server.RotateExternally("a");
        Assert.Equal(
            new[] { first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken }.Order(),
            Server.IssuedTokens.Order());
    }

    [Fact]
    public async Task ResetCounters_zeroes_counters_but_keeps_tokens()
    {
        var first = Server.CreateAccount("a");
        using (await RefreshJson(first.RefreshToken))
        using (await RefreshJson(first.RefreshToken))
        {
        }

        Assert.Equal(2, Server.TotalRefreshCalls);
        Assert.Equal(1, Server.RefreshTokenReuse);
        Server.ResetCounters();
        Assert.Equal(0, Server.TotalRefreshCalls);
        Assert.Equal(0, Server.RefreshTokenReuse);
        Assert.Equal(0, Server.RefreshCalls("a"));
        Assert.Equal(0, Server.MaxConcurrentRefreshes);
        using var ok = await RefreshJson(Server.Current("a").RefreshToken);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(1, Server.MaxConcurrentRefreshes);
    }
}

public sealed class ClientIdTests : ServerTest
{
    protected override FakeTokenServerOptions Options => new() { Time = Time, RequiredClientId = "9d1c250a-e61b-44d9-88ed-5944d1962f5e" };

    [Fact]
    public async Task Other_client_id_is_invalid_client_and_required_one_works()
    {
        var first = Server.CreateAccount("a");
        using (var wrong = await RefreshJson(first.RefreshToken, clientId: "someone-else"))
        {
            await AssertOAuthError(wrong, "invalid_client");
        }

        using (var missing = await RefreshJson(first.RefreshToken, clientId: null))
        {
            await AssertOAuthError(missing, "invalid_client");
        }

        Assert.Equal(first, Server.Current("a"));
        using var ok = await RefreshJson(first.RefreshToken, clientId: "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}

public sealed class UserAgentTests : ServerTest
{
    protected override FakeTokenServerOptions Options => new() { Time = Time, RequireUserAgent = true };

    [Fact]
    public async Task Missing_user_agent_gets_the_cdn_page_and_a_user_agent_passes()
    {
        var first = Server.CreateAccount("a");
        using (var blocked = await RefreshJson(first.RefreshToken))
        {
            Assert.Equal(HttpStatusCode.Forbidden, blocked.StatusCode);
            Assert.Equal("text/html", blocked.Content.Headers.ContentType?.MediaType);
            Assert.Contains("error code: 1010", await blocked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(first, Server.Current("a"));
        Http.DefaultRequestHeaders.UserAgent.ParseAdd("claude-cli/2.0.0");
        using var ok = await RefreshJson(first.RefreshToken);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}
