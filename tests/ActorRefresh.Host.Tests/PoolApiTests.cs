using System.Net;
using System.Text;
using System.Text.Json;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Hosting;

namespace ActorRefresh.Host.Tests;

public sealed class PoolApiTests
{
    private const string AccessToken = "sk-ant-oat01-POOL-ACCESS-a";
    private const string RefreshToken = "sk-ant-ort01-POOL-REFRESH-never-shown";

    private static async Task<BrokerServer> StartWithPoolAsync()
    {
        var server = await BrokerServer.StartAsync();
        foreach (var id in (string[])["a", "b"])
        {
            await server.Tokens.RegisterAsync(new AccountCredentials(id, "claude", new Secret(RefreshToken),
                new Secret(AccessToken.Replace("-a", "-" + id, StringComparison.Ordinal)), BrokerServer.Now.AddHours(1)));
        }
        server.Tokens.DefinePool(new PoolDefinition("main", ["a", "b"], PoolStrategy.RoundRobin, 80));
        return server;
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("reason").GetString()));
        return json;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Lists_pool_definitions_with_configuration_spelling()
    {
        await using var server = await StartWithPoolAsync();
        server.Tokens.DefinePool(new PoolDefinition("batch", ["b"], PoolStrategy.LeastUtilised));
        var pools = JsonDocument.Parse(await server.Client.GetStringAsync("v1/pools")).RootElement.EnumerateArray().ToList();
        Assert.Equal(["batch", "main"], pools.Select(p => p.GetProperty("name").GetString()));
        var main = pools[1];
        Assert.Equal("round-robin", main.GetProperty("strategy").GetString());
        Assert.Equal(80, main.GetProperty("maxUtilisation").GetDouble());
        Assert.Equal(["a", "b"], main.GetProperty("accounts").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("least-utilised", pools[0].GetProperty("strategy").GetString());
    }

    [Fact]
    public async Task Shows_members_with_state_utilisation_and_reason_but_never_a_token()
    {
        await using var server = await StartWithPoolAsync();
        var resetAt = BrokerServer.Now.AddHours(2);
        var usage = new AccountUsage(95, resetAt, 40, BrokerServer.Now.AddDays(3), BrokerServer.Now, null, null, "observed");
        server.Tokens.PoolStatuses["main"] = new PoolStatus("main", PoolStrategy.RoundRobin, 80,
        [
            new PoolMember("a", AccountState.Valid, 95, false, resetAt, "utilisation 95% at or above 80%", usage),
            new PoolMember("b", AccountState.BackingOff, 0, true, null, null, null),
            new PoolMember("ghost", null, 0, false, null, "not registered", null),
        ], null);

        var response = await server.Client.GetAsync("v1/pools/main");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("POOL-ACCESS", body, StringComparison.Ordinal);
        Assert.DoesNotContain("POOL-REFRESH", body, StringComparison.Ordinal);
        var pool = JsonDocument.Parse(body).RootElement;
        Assert.Equal("round-robin", pool.GetProperty("strategy").GetString());
        Assert.Equal(1, pool.GetProperty("usable").GetInt32());
        Assert.Equal(3, pool.GetProperty("total").GetInt32());
        var members = pool.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal("Valid", members[0].GetProperty("state").GetString());
        Assert.Equal(95, members[0].GetProperty("utilisation").GetDouble());
        Assert.False(members[0].GetProperty("usable").GetBoolean());
        Assert.Equal(resetAt, members[0].GetProperty("usableAt").GetDateTimeOffset());
        Assert.Contains("at or above 80%", members[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(40, members[0].GetProperty("usage").GetProperty("sevenDayUtilization").GetDouble());
        Assert.True(members[1].GetProperty("usable").GetBoolean());
        Assert.Equal(JsonValueKind.Null, members[1].GetProperty("reason").ValueKind);
        Assert.Equal(JsonValueKind.Null, members[2].GetProperty("state").ValueKind);

        var missing = await ProblemAsync(await server.Client.GetAsync("v1/pools/nope"), 404);
        Assert.Equal("nope", missing.GetProperty("pool").GetString());
        await ProblemAsync(await server.Client.GetAsync("v1/pools/bad%20name"), 400);
    }

    [Fact]
    public async Task Lease_answers_the_account_and_its_access_token()
    {
        await using var server = await StartWithPoolAsync();
        var expires = BrokerServer.Now.AddHours(1);
        server.Tokens.Leases["main"] = () => new AccountLease("b", new AccessToken(new Secret("sk-ant-oat01-LEASED-b"), expires));
        var response = await server.Client.GetAsync("v1/pools/main/lease");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var lease = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("b", lease.GetProperty("accountId").GetString());
        Assert.Equal("sk-ant-oat01-LEASED-b", lease.GetProperty("accessToken").GetString());
        Assert.Equal(expires, lease.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.DoesNotContain("LEASED", server.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_usable_account_is_503_with_retry_after_rounded_up()
    {
        await using var server = await StartWithPoolAsync();
        var retryAt = BrokerServer.Now.AddSeconds(90.2);
        server.Tokens.Leases["main"] = () => throw new NoUsableAccountException("main", retryAt, "no usable account in pool 'main'");
        var response = await server.Client.GetAsync("v1/pools/main/lease");
        var problem = await ProblemAsync(response, 503);
        Assert.Equal(TimeSpan.FromSeconds(91), response.Headers.RetryAfter?.Delta);
        Assert.Equal("no usable account in pool 'main'", problem.GetProperty("reason").GetString());
        Assert.Equal(retryAt, problem.GetProperty("retryAt").GetDateTimeOffset());
        Assert.Equal("main", problem.GetProperty("pool").GetString());
    }

    [Fact]
    public async Task No_usable_account_without_a_known_time_is_503_without_retry_after()
    {
        await using var server = await StartWithPoolAsync();
        server.Tokens.Leases["main"] = () => throw new NoUsableAccountException("main", null, "every member is blocked");
        var response = await server.Client.GetAsync("v1/pools/main/lease");
        var problem = await ProblemAsync(response, 503);
        Assert.Null(response.Headers.RetryAfter);
        Assert.Equal(JsonValueKind.Null, problem.GetProperty("retryAt").ValueKind);
    }

    [Fact]
    public async Task Lease_of_an_unknown_or_badly_named_pool_is_404_or_400()
    {
        await using var server = await StartWithPoolAsync();
        var missing = await ProblemAsync(await server.Client.GetAsync("v1/pools/nope/lease"), 404);
        Assert.Contains("nope", missing.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var bad = await ProblemAsync(await server.Client.GetAsync("v1/pools/a%20b/lease"), 400);
        Assert.Contains("pool name", bad.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pool_routes_need_the_api_key()
    {
        await using var server = await StartWithPoolAsync();
        server.Tokens.Leases["main"] = () => new AccountLease("a", new AccessToken(new Secret("sk-ant-oat01-SECRET"), BrokerServer.Now.AddHours(1)));
        foreach (var path in (string[])["v1/pools", "v1/pools/main", "v1/pools/main/lease"])
            Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.PutAsync("v1/pools/x", Json("""{"accounts":["a"]}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.DeleteAsync("v1/pools/main")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.PostAsync("v1/accounts/a/usage", Json("""{"status":200}"""))).StatusCode);
        Assert.Single(server.Tokens.ListPools());
    }

    [Fact]
    public async Task Put_defines_then_replaces_a_pool_and_delete_removes_it()
    {
        await using var server = await StartWithPoolAsync();
        var created = await server.Client.PutAsync("v1/pools/extra", Json("""{"accounts":["b","a"],"strategy":"least-utilised","maxUtilisation":75}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/v1/pools/extra", created.Headers.Location?.OriginalString);
        var definition = server.Tokens.ListPools().Single(p => p.Name == "extra");
        Assert.Equal(["b", "a"], definition.Accounts);
        Assert.Equal(PoolStrategy.LeastUtilised, definition.Strategy);
        Assert.Equal(75, definition.MaxUtilisation);

        var replaced = await server.Client.PutAsync("v1/pools/extra", Json("""{"accounts":["a"]}"""));
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        var body = JsonDocument.Parse(await replaced.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("priority", body.GetProperty("strategy").GetString());
        Assert.Equal(PoolDefinition.DefaultMaxUtilisation, body.GetProperty("maxUtilisation").GetDouble());

        Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync("v1/pools/extra")).StatusCode);
        Assert.DoesNotContain(server.Tokens.ListPools(), p => p.Name == "extra");
        await ProblemAsync(await server.Client.DeleteAsync("v1/pools/extra"), 404);
        await ProblemAsync(await server.Client.DeleteAsync("v1/pools/bad%20name"), 400);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("""{}""", "'accounts'")]
    [InlineData("""{"accounts":[]}""", "'accounts'")]
    [InlineData("""{"accounts":["a","b c"]}""", "'accounts[1]'")]
    [InlineData("""{"accounts":["a",null]}""", "'accounts[1]'")]
    [InlineData("""{"accounts":["a","a"]}""", "more than once")]
    [InlineData("""{"accounts":["a"],"strategy":"random"}""", "'strategy'")]
    [InlineData("""{"accounts":["a"],"maxUtilisation":0}""", "'maxUtilisation'")]
    [InlineData("""{"accounts":["a"],"maxUtilisation":101}""", "'maxUtilisation'")]
    [InlineData("""{"accounts":"a"}""", "$.accounts")]
    public async Task Bad_pool_bodies_are_400_problems_naming_the_field(string body, string reasonPart)
    {
        await using var server = await StartWithPoolAsync();
        var problem = await ProblemAsync(await server.Client.PutAsync("v1/pools/extra", Json(body)), 400);
        Assert.Contains(reasonPart, problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(server.Tokens.ListPools(), p => p.Name == "extra");
    }

    [Fact]
    public async Task A_bad_pool_name_in_put_is_a_400()
    {
        await using var server = await StartWithPoolAsync();
        var name = new string('p', 129);
        var problem = await ProblemAsync(await server.Client.PutAsync($"v1/pools/{name}", Json("""{"accounts":["a"]}""")), 400);
        Assert.Contains("pool name", problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_report_hands_status_and_headers_to_the_engine()
    {
        await using var server = await StartWithPoolAsync();
        var response = await server.Client.PostAsync("v1/accounts/a/usage", Json("""
            {"status":429,"headers":{"anthropic-ratelimit-unified-5h-utilization":"0.97","retry-after":"30"}}
            """));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("a", status.GetProperty("accountId").GetString());
        Assert.Equal(("a", 429), server.Tokens.UsageReports.Single());
        var headers = server.Tokens.UsageReportHeaders.Single();
        Assert.Contains(new KeyValuePair<string, string>("anthropic-ratelimit-unified-5h-utilization", "0.97"), headers);
        Assert.Contains(new KeyValuePair<string, string>("retry-after", "30"), headers);

        // Headers are optional (a bare 429).
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("v1/accounts/b/usage", Json("""{"status":200}"""))).StatusCode);
    }

    [Theory]
    [InlineData("""{}""", "'status'")]
    [InlineData("""{"status":42}""", "'status'")]
    [InlineData("""{"status":"many"}""", "$.status")]
    [InlineData("""{"status":429,"headers":{"retry-after":null}}""", "'headers'")]
    [InlineData("""{"status":429,"headers":["retry-after"]}""", "$.headers")]
    public async Task Bad_usage_reports_are_400_problems(string body, string reasonPart)
    {
        await using var server = await StartWithPoolAsync();
        var problem = await ProblemAsync(await server.Client.PostAsync("v1/accounts/a/usage", Json(body)), 400);
        Assert.Contains(reasonPart, problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Empty(server.Tokens.UsageReports);
    }

    [Fact]
    public async Task Usage_report_for_an_unknown_or_bad_account_is_404_or_400()
    {
        await using var server = await StartWithPoolAsync();
        await ProblemAsync(await server.Client.PostAsync("v1/accounts/nobody/usage", Json("""{"status":200}""")), 404);
        await ProblemAsync(await server.Client.PostAsync("v1/accounts/bad%20id/usage", Json("""{"status":200}""")), 400);
    }
}
