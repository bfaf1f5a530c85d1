using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Host.Tests;

public sealed class ApiTests
{
    private const string RefreshToken = "sk-ant-ort01-REFRESH-never-shown-0000";

    private static async Task<BrokerServer> StartWithAccountAsync(string id = "alice@example.com")
    {
        var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials(id, "claude", new Secret(RefreshToken),
            new Secret("sk-ant-oat01-ACCESS-one"), BrokerServer.Now.AddHours(1)));
        return server;
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal); // no stack trace
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("reason").GetString()));
        return json;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Lists_accounts_with_camel_case_and_state_names()
    {
        await using var server = await StartWithAccountAsync();
        var body = await server.Client.GetStringAsync("v1/accounts");
        var account = JsonDocument.Parse(body).RootElement.EnumerateArray().Single();
        Assert.Equal("alice@example.com", account.GetProperty("accountId").GetString());
        Assert.Equal("Valid", account.GetProperty("state").GetString());
        Assert.Equal("claude", account.GetProperty("provider").GetString());
    }

    [Fact]
    public async Task Registers_an_account_and_answers_201_with_its_status()
    {
        await using var server = await BrokerServer.StartAsync();
        var expires = BrokerServer.Now.AddHours(2);
        var response = await server.Client.PostAsync("v1/accounts", Json(
            $$"""{"id":"bob.1","provider":"generic","refreshToken":"{{RefreshToken}}","accessToken":"opaque-access","expiresAt":"{{expires:O}}"}"""));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("/v1/accounts/bob.1", response.Headers.Location?.OriginalString);
        var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("bob.1", status.GetProperty("accountId").GetString());
        Assert.Equal(expires, status.GetProperty("accessTokenExpiresAt").GetDateTimeOffset());
        Assert.Equal(RefreshToken, server.Tokens.CredentialsOf("bob.1")!.RefreshToken!.Reveal());
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[]", "not valid JSON")]
    [InlineData("""{"provider":"claude","refreshToken":"r"}""", "'id'")]
    [InlineData("""{"id":"a","refreshToken":"r"}""", "'provider'")]
    [InlineData("""{"id":"a","provider":"claude"}""", "'refreshToken'")]
    [InlineData("""{"id":"a","provider":"claude","refreshToken":"r","accessToken":"x"}""", "'expiresAt' is required")]
    [InlineData("""{"id":"a","provider":"claude","accessToken":"x"}""", "'refreshToken' is missing: without one, 'accessToken' and 'expiresAt'")]
    [InlineData("""{"id":"a","provider":"claude","expiresAt":"2030-01-01T00:00:00Z"}""", "'refreshToken' is missing")]
    [InlineData("""{"id":"a","provider":"claude","refreshToken":" ","accessToken":"x","expiresAt":"2030-01-01T00:00:00Z"}""", "'refreshToken'")]
    [InlineData("""{"id":"a","provider":"claude","accessToken":"x","expiresAt":"2020-01-01T00:00:00Z"}""", "cannot be renewed")]
    [InlineData("""{"id":"a","provider":"claude","refreshToken":"r","accessToken":"x","expiresAt":"2020-01-01T00:00:00Z"}""", "past")]
    [InlineData("""{"id":"a","provider":"claude","refreshToken":"r","expiresAt":"yesterday"}""", "$.expiresAt")]
    [InlineData("""{"id":"a b","provider":"claude","refreshToken":"r"}""", "1-128 characters")]
    [InlineData("""{"id":"a","provider":"nope","refreshToken":"r"}""", "Unknown provider")]
    public async Task Bad_register_bodies_are_400_problems_with_a_reason(string body, string reasonPart)
    {
        await using var server = await BrokerServer.StartAsync();
        var response = await server.Client.PostAsync("v1/accounts", Json(body));
        var problem = await ProblemAsync(response, 400);
        Assert.Contains(reasonPart, problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Registering_a_taken_id_is_400()
    {
        await using var server = await StartWithAccountAsync("dup");
        var response = await server.Client.PostAsync("v1/accounts", Json("""{"id":"dup","provider":"claude","refreshToken":"r"}"""));
        await ProblemAsync(response, 400);
    }

    [Theory]
    [InlineData("v1/accounts/has%20space")]
    [InlineData("v1/accounts/slash%2Fin%2Fid/token")]
    [InlineData("v1/accounts/semi%3Bcolon")]
    public async Task Invalid_ids_are_400_problems_naming_the_rule(string path)
    {
        await using var server = await BrokerServer.StartAsync();
        var problem = await ProblemAsync(await server.Client.GetAsync(path), 400);
        Assert.Contains("1-128 characters", problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_id_of_129_characters_is_400()
    {
        await using var server = await BrokerServer.StartAsync();
        await ProblemAsync(await server.Client.GetAsync("v1/accounts/" + new string('a', 129)), 400);
        await ProblemAsync(await server.Client.GetAsync("v1/accounts/" + new string('a', 128)), 404);
    }

    [Fact]
    public async Task Status_of_one_account()
    {
        await using var server = await StartWithAccountAsync();
        var status = await server.Client.GetFromJsonAsync<JsonElement>("v1/accounts/alice@example.com");
        Assert.Equal("alice@example.com", status.GetProperty("accountId").GetString());
        Assert.Equal(0, status.GetProperty("counters").GetProperty("refreshes").GetInt64());
    }

    [Fact]
    public async Task Token_is_served_with_its_expiry()
    {
        await using var server = await StartWithAccountAsync();
        var token = await server.Client.GetFromJsonAsync<JsonElement>("v1/accounts/alice@example.com/token");
        Assert.Equal("sk-ant-oat01-ACCESS-one", token.GetProperty("accessToken").GetString());
        Assert.Equal(BrokerServer.Now.AddHours(1), token.GetProperty("expiresAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task Backing_off_is_503_with_Retry_After_rounded_up_and_retryAt()
    {
        await using var server = await StartWithAccountAsync();
        var retryAt = BrokerServer.Now.AddSeconds(90.2);
        server.Tokens.SetBackingOff("alice@example.com", retryAt, "rate limited (429)");
        var response = await server.Client.GetAsync("v1/accounts/alice@example.com/token");
        var problem = await ProblemAsync(response, 503);
        Assert.Equal("91", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("rate limited (429)", problem.GetProperty("reason").GetString());
        Assert.Equal(retryAt, problem.GetProperty("retryAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task Blocked_is_409_with_the_reason()
    {
        await using var server = await StartWithAccountAsync();
        await server.Tokens.BlockAsync("alice@example.com", "OAuth authentication is currently not allowed for this organization");
        var problem = await ProblemAsync(await server.Client.GetAsync("v1/accounts/alice@example.com/token"), 409);
        Assert.Contains("not allowed for this organization", problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_account_is_404_everywhere()
    {
        await using var server = await BrokerServer.StartAsync();
        await ProblemAsync(await server.Client.GetAsync("v1/accounts/ghost/token"), 404);
        await ProblemAsync(await server.Client.GetAsync("v1/accounts/ghost"), 404);
        await ProblemAsync(await server.Client.PostAsync("v1/accounts/ghost/refresh", null), 404);
        await ProblemAsync(await server.Client.PostAsync("v1/accounts/ghost/unblock", null), 404);
        await ProblemAsync(await server.Client.DeleteAsync("v1/accounts/ghost"), 404);
    }

    [Fact]
    public async Task Engine_unavailable_is_503_problem()
    {
        await using var server = await StartWithAccountAsync();
        server.Tokens.EngineDown = true;
        var response = await server.Client.GetAsync("v1/accounts/alice@example.com/token");
        await ProblemAsync(response, 503);
        Assert.False(response.Headers.Contains("Retry-After"));
        await ProblemAsync(await server.Client.GetAsync("v1/accounts"), 503);
    }

    [Fact]
    public async Task Rejected_report_names_the_token_and_rotates_only_the_current_one()
    {
        await using var server = await StartWithAccountAsync();
        var response = await server.Client.PostAsync("v1/accounts/alice@example.com/rejected",
            Json("""{"accessToken":"sk-ant-oat01-ACCESS-one"}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(("alice@example.com", "sk-ant-oat01-ACCESS-one"), server.Tokens.RejectedReports.Single());
        var token = await server.Client.GetFromJsonAsync<JsonElement>("v1/accounts/alice@example.com/token");
        Assert.NotEqual("sk-ant-oat01-ACCESS-one", token.GetProperty("accessToken").GetString());

        await ProblemAsync(await server.Client.PostAsync("v1/accounts/alice@example.com/rejected", Json("{}")), 400);
    }

    [Fact]
    public async Task Block_unblock_refresh_and_delete()
    {
        await using var server = await StartWithAccountAsync();
        var blocked = await (await server.Client.PostAsync("v1/accounts/alice@example.com/block", Json("""{"reason":"offboarding"}""")))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("PolicyBlocked", blocked.GetProperty("state").GetString());
        Assert.Equal("offboarding", blocked.GetProperty("lastError").GetString());

        await ProblemAsync(await server.Client.PostAsync("v1/accounts/alice@example.com/block", Json("{}")), 400);

        var unblocked = await server.Client.PostAsync("v1/accounts/alice@example.com/unblock", null);
        Assert.Equal(HttpStatusCode.OK, unblocked.StatusCode);
        Assert.Equal("Valid", (await unblocked.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());

        var refreshed = await server.Client.PostAsync("v1/accounts/alice@example.com/refresh", null);
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var token = await server.Client.GetFromJsonAsync<JsonElement>("v1/accounts/alice@example.com/token");
        Assert.StartsWith("sk-ant-oat01-minted", token.GetProperty("accessToken").GetString(), StringComparison.Ordinal);

        // The answer says the stored history (every past encrypted token) is gone too.
        var removed = await server.Client.DeleteAsync("v1/accounts/alice@example.com");
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        var answer = await removed.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("alice@example.com", answer.GetProperty("id").GetString());
        Assert.True(answer.GetProperty("removed").GetBoolean());
        Assert.True(answer.GetProperty("historyDeleted").GetBoolean());
        Assert.Contains("events and snapshots", answer.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await ProblemAsync(await server.Client.GetAsync("v1/accounts/alice@example.com"), 404);
    }

    [Fact]
    public async Task Bodies_over_64_KiB_are_413()
    {
        await using var server = await BrokerServer.StartAsync();
        var big = $$"""{"id":"a","provider":"claude","refreshToken":"{{new string('x', 70 * 1024)}}"}""";
        await ProblemAsync(await server.Client.PostAsync("v1/accounts", Json(big)), 413);
    }

    [Fact]
    public async Task Claude_import_registers_then_replaces()
    {
        await using var server = await BrokerServer.StartAsync();
        var expires = BrokerServer.Now.AddHours(3).ToUnixTimeMilliseconds();
        var file = $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-IMPORTED","refreshToken":"{{RefreshToken}}","expiresAt":{{expires}},"scopes":["user:inference"],"subscriptionType":"max"} }""";

        var created = await server.Client.PostAsync("v1/import/claude?id=me", Json(file));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var credentials = server.Tokens.CredentialsOf("me")!;
        Assert.Equal("claude", credentials.Provider);
        Assert.Equal("sk-ant-oat01-IMPORTED", credentials.AccessToken!.Reveal());
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(expires), credentials.ExpiresAt);
        Assert.Null(credentials.CredentialsFile);

        var replaced = await server.Client.PostAsync("v1/import/claude?id=me&sync=false", Json(file.Replace("IMPORTED", "SECOND", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        Assert.Equal("sk-ant-oat01-SECOND", server.Tokens.Replaced.Single().AccessToken!.Reveal());
        Assert.DoesNotContain(RefreshToken, await replaced.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Claude_import_drops_an_expired_access_token_and_keeps_the_refresh_token()
    {
        await using var server = await BrokerServer.StartAsync();
        var expired = BrokerServer.Now.AddHours(-1).ToUnixTimeMilliseconds();
        var response = await server.Client.PostAsync("v1/import/claude?id=me",
            Json($$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-OLD","refreshToken":"r1","expiresAt":{{expired}} } }"""));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Null(server.Tokens.CredentialsOf("me")!.AccessToken);
    }

    [Fact]
    public async Task A_long_lived_token_registers_without_a_refresh_token_over_post_and_import()
    {
        await using var server = await BrokerServer.StartAsync();
        var expires = BrokerServer.Now.AddDays(365);
        var response = await server.Client.PostAsync("v1/accounts", Json(
            $$"""{"id":"long","provider":"claude","accessToken":"sk-ant-oat01-SETUPTOKEN","expiresAt":"{{expires:O}}"}"""));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var credentials = server.Tokens.CredentialsOf("long")!;
        Assert.Null(credentials.RefreshToken);
        Assert.Equal("sk-ant-oat01-SETUPTOKEN", credentials.AccessToken!.Reveal());
        Assert.DoesNotContain("SETUPTOKEN", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A credentials file without refreshToken (setup-token's) imports as one; its grant end, when written, goes along.
        var file = $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-FILETOKEN","expiresAt":{{expires.ToUnixTimeMilliseconds()}},"scopes":["user:inference"]} }""";
        Assert.Equal(HttpStatusCode.Created, (await server.Client.PostAsync("v1/import/claude?id=long-file", Json(file))).StatusCode);
        Assert.Null(server.Tokens.CredentialsOf("long-file")!.RefreshToken);
        var sync = await server.Client.PostAsync("v1/import/claude?id=long-sync&sync=true&path=/tmp/x/.credentials.json", Json(file));
        Assert.Equal(HttpStatusCode.BadRequest, sync.StatusCode);

        var grantEnd = BrokerServer.Now.AddDays(20).ToUnixTimeMilliseconds();
        var refreshable = $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-A","refreshToken":"{{RefreshToken}}","expiresAt":{{expires.ToUnixTimeMilliseconds()}},"refreshTokenExpiresAt":{{grantEnd}}} }""";
        Assert.Equal(HttpStatusCode.Created, (await server.Client.PostAsync("v1/import/claude?id=with-grant", Json(refreshable))).StatusCode);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(grantEnd), server.Tokens.CredentialsOf("with-grant")!.GrantExpiresAt);
    }

    [Theory]
    [InlineData("v1/import/claude?id=me", """{"other":1}""", "claudeAiOauth")]
    [InlineData("v1/import/claude?id=me", """{"claudeAiOauth":{"accessToken":"a"}}""", "'claudeAiOauth.expiresAt' is missing")]
    [InlineData("v1/import/claude?id=me", """{"claudeAiOauth":{"accessToken":"a","expiresAt":1}}""", "no refresh token")]
    [InlineData("v1/import/claude", """{"claudeAiOauth":{"refreshToken":"r"}}""", "1-128")]
    [InlineData("v1/import/claude?id=me&sync=maybe", """{"claudeAiOauth":{"refreshToken":"r"}}""", "'sync'")]
    [InlineData("v1/import/claude?id=me&sync=true", """{"claudeAiOauth":{"refreshToken":"r"}}""", "'path'")]
    [InlineData("v1/import/claude?id=me", "nope", "not valid JSON")]
    public async Task Claude_import_refuses_bad_input_with_400(string path, string body, string reasonPart)
    {
        await using var server = await BrokerServer.StartAsync();
        var problem = await ProblemAsync(await server.Client.PostAsync(path, Json(body)), 400);
        Assert.Contains(reasonPart, problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_answer_ever_contains_the_refresh_token_and_no_log_line_any_token()
    {
        await using var server = await StartWithAccountAsync("acct");
        var bodies = new StringBuilder();
        async Task Collect(Task<HttpResponseMessage> call) => bodies.AppendLine(await (await call).Content.ReadAsStringAsync());
        await Collect(server.Client.GetAsync("v1/accounts"));
        await Collect(server.Client.GetAsync("v1/accounts/acct"));
        await Collect(server.Client.GetAsync("v1/accounts/acct/token"));
        await Collect(server.Client.PostAsync("v1/accounts/acct/refresh", null));
        await Collect(server.Client.PostAsync("v1/accounts/acct/block", Json("""{"reason":"r"}""")));
        await Collect(server.Client.GetAsync("v1/accounts/acct/token"));
        await Collect(server.Client.PostAsync("v1/accounts/acct/unblock", null));
        await Collect(server.Client.PostAsync("v1/import/claude?id=acct",
            Json($$"""{"claudeAiOauth":{"refreshToken":"{{RefreshToken}}"} }""")));
        await Collect(server.Client.PostAsync("v1/accounts",
            Json($$"""{"id":"acct","provider":"claude","refreshToken":"{{RefreshToken}}"}""")));
        await Collect(server.Client.GetAsync(""));
        Assert.DoesNotContain(RefreshToken, bodies.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("REFRESH-never-shown", server.Log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("ACCESS-one", server.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_is_open_and_readiness_follows_the_engine()
    {
        await using var server = await BrokerServer.StartAsync(settings: new() { ["ActorRefresh:Api:ReadinessTimeout"] = "00:00:00.200" });
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("readyz")).StatusCode);

        var stuck = new TaskCompletionSource();
        server.Tokens.ListGate = stuck.Task;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Anonymous.GetAsync("readyz")).StatusCode);
        stuck.SetResult();

        server.Tokens.ListGate = null;
        server.Tokens.EngineDown = true;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Anonymous.GetAsync("readyz")).StatusCode);
    }

    [Fact]
    public async Task Metrics_count_token_answers_without_account_ids()
    {
        await using var server = await StartWithAccountAsync("metric-acct");
        await server.Client.GetAsync("v1/accounts/metric-acct/token");
        await server.Client.GetAsync("v1/accounts/ghost-acct/token");
        var response = await server.Anonymous.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("actorrefresh_http_token_requests", text, StringComparison.Ordinal);
        Assert.Contains("answer=\"served\"", text, StringComparison.Ordinal);
        Assert.Contains("answer=\"not_found\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("metric-acct", text, StringComparison.Ordinal);
        Assert.DoesNotContain("ghost-acct", text, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant-", text, StringComparison.Ordinal);
    }
}
