using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.TestKit;
using Microsoft.AspNetCore.Builder;

namespace ActorRefresh.Host.Tests;

/// <summary><c>serve</c> with the real engine (SQLite, Akka) over real HTTP, against the fake token server.</summary>
public sealed class ServeEndToEndTests : IAsyncLifetime
{
    private const string Key = "e2e-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-serve-" + Guid.NewGuid().ToString("N"));
    private readonly LogBuffer _log = new();
    private FakeTokenServer _server = null!;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeTokenServer.StartAsync();
        _app = ActorRefreshWebHost.Build(new ServeSettings(["http://127.0.0.1:0"], ConfigOverrides: new Dictionary<string, string?>
        {
            ["ActorRefresh:Api:Key"] = Key,
            ["ActorRefresh:Storage:DataDirectory"] = _directory,
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:claude:UsageEndpoint"] = _server.UsageEndpoint.ToString(),
            // A pool from configuration, as an operator writes it (members registered by the test that uses it).
            ["ActorRefresh:Pools:duo:Accounts:0"] = "pool-a",
            ["ActorRefresh:Pools:duo:Accounts:1"] = "pool-b",
            ["ActorRefresh:Pools:duo:Strategy"] = "priority",
        }, LogOutput: _log.Writer), EngineRegistration.Add);
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.First().TrimEnd('/') + "/") };
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Assert.Equal(0, _server.RefreshTokenReuse);
        Assert.Equal(0, _server.OverlappingRefreshes);
        var log = _log.ToString();
        Assert.All(_server.IssuedTokens, t => Assert.DoesNotContain(t, log, StringComparison.Ordinal));
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Register_get_token_refresh_block_and_remove_over_http()
    {
        var issued = _server.CreateAccount("acct-1");
        var register = await _client.PostAsJsonAsync("v1/accounts", new
        {
            id = "acct-1",
            provider = "claude",
            refreshToken = issued.RefreshToken,
            accessToken = issued.AccessToken,
            expiresAt = DateTimeOffset.UtcNow.AddSeconds(30),
        });
        var registerBody = await register.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, register.StatusCode);
        Assert.DoesNotContain(issued.RefreshToken, registerBody);

        // Inside the refresh lead: the first token request refreshes, exactly once.
        var token = await _client.GetFromJsonAsync<JsonElement>("v1/accounts/acct-1/token");
        Assert.Equal(_server.Current("acct-1").AccessToken, token.GetProperty("accessToken").GetString());
        Assert.Equal(1, _server.RefreshCalls("acct-1"));

        var list = await _client.GetStringAsync("v1/accounts");
        Assert.Contains("acct-1", list);
        Assert.DoesNotContain(_server.Current("acct-1").RefreshToken, list);

        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("v1/accounts/nobody/token")).StatusCode);

        var block = await _client.PostAsJsonAsync("v1/accounts/acct-1/block", new { reason = "maintenance" });
        Assert.Equal(HttpStatusCode.OK, block.StatusCode);
        var blocked = await _client.GetAsync("v1/accounts/acct-1/token");
        Assert.Equal(HttpStatusCode.Conflict, blocked.StatusCode);
        Assert.Contains("maintenance", await blocked.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync("v1/accounts/acct-1/unblock", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("v1/accounts/acct-1/token")).StatusCode);

        Assert.True((await _client.DeleteAsync("v1/accounts/acct-1")).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("v1/accounts/acct-1/token")).StatusCode);
    }

    [Fact]
    public async Task Backing_off_account_answers_503_with_retry_after()
    {
        var issued = _server.CreateAccount("acct-2");
        _server.Script("acct-2", FakeFault.RateLimited(TimeSpan.FromSeconds(120)));
        var register = await _client.PostAsJsonAsync("v1/accounts", new { id = "acct-2", provider = "claude", refreshToken = issued.RefreshToken });
        Assert.Equal(HttpStatusCode.Created, register.StatusCode);

        // Without an access token the account refreshes at once and meets the 429.
        HttpResponseMessage response;
        do
        {
            response = await _client.GetAsync("v1/accounts/acct-2/token");
        } while (response.StatusCode == HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var retryAfter = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 100, 121);
        Assert.Equal(1, _server.RefreshCalls("acct-2"));
        Assert.Equal(0, _server.CallsDuringBackoff);
    }

    [Fact]
    public async Task Metrics_show_refreshes_by_outcome_without_account_ids()
    {
        var issued = _server.CreateAccount("acct-3");
        await _client.PostAsJsonAsync("v1/accounts", new { id = "acct-3", provider = "claude", refreshToken = issued.RefreshToken });
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync("v1/accounts/acct-3/refresh", null)).StatusCode);
        await WaitUntilAsync(() => _server.RefreshCalls("acct-3") >= 1);
        var metrics = "";
        await WaitUntilAsync(async () => (metrics = await _client.GetStringAsync("metrics")).Contains("actorrefresh_refreshes"));
        Assert.Contains("outcome=\"refreshed\"", metrics);
        Assert.Contains("actorrefresh_accounts", metrics);
        Assert.DoesNotContain("acct-3", metrics);
    }

    [Fact]
    public async Task Pool_from_configuration_leases_around_a_policy_blocked_account_and_answers_503_when_none_is_usable()
    {
        var pools = JsonDocument.Parse(await _client.GetStringAsync("v1/pools")).RootElement.EnumerateArray().ToList();
        var duo = Assert.Single(pools, p => p.GetProperty("name").GetString() == "duo");
        Assert.Equal(["pool-a", "pool-b"], duo.GetProperty("accounts").EnumerateArray().Select(a => a.GetString()));

        // pool-a comes first by priority, but its first refresh meets an organisation-policy 403.
        var a = _server.CreateAccount("pool-a");
        var b = _server.CreateAccount("pool-b");
        _server.Script("pool-a", FakeFault.PolicyForbidden());
        Assert.Equal(HttpStatusCode.Created,
            (await _client.PostAsJsonAsync("v1/accounts", new { id = "pool-a", provider = "claude", refreshToken = a.RefreshToken })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await _client.PostAsJsonAsync("v1/accounts", new
        {
            id = "pool-b",
            provider = "claude",
            refreshToken = b.RefreshToken,
            accessToken = b.AccessToken,
            expiresAt = DateTimeOffset.UtcNow.AddHours(1),
        })).StatusCode);

        await WaitUntilAsync(async () =>
        {
            var pool = await PoolAsync();
            return Member(pool, "pool-a") is { } blocked && blocked.GetProperty("state").GetString() == "PolicyBlocked"
                && Member(pool, "pool-b") is { } usable && usable.GetProperty("usable").GetBoolean();
        });
        var status = await PoolAsync();
        Assert.Equal(1, status.GetProperty("usable").GetInt32());
        Assert.Equal(2, status.GetProperty("total").GetInt32());
        Assert.StartsWith("blocked", Member(status, "pool-a")!.Value.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var statusText = status.GetRawText();
        Assert.DoesNotContain(b.AccessToken, statusText, StringComparison.Ordinal);
        Assert.DoesNotContain(b.RefreshToken, statusText, StringComparison.Ordinal);

        var lease = await _client.GetAsync("v1/pools/duo/lease");
        Assert.Equal(HttpStatusCode.OK, lease.StatusCode);
        var leased = JsonDocument.Parse(await lease.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("pool-b", leased.GetProperty("accountId").GetString());
        Assert.Equal(b.AccessToken, leased.GetProperty("accessToken").GetString());
        Assert.Equal(1, _server.RefreshCalls("pool-a"));
        Assert.Equal(0, _server.RefreshCalls("pool-b")); // a fresh token is leased without a refresh

        // Now pool-b is refused by policy too: nothing is usable, and nobody can say when.
        _server.Script("pool-b", FakeFault.PolicyForbidden());
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync("v1/accounts/pool-b/refresh", null)).StatusCode);
        await WaitUntilAsync(async () => (await PoolAsync()).GetProperty("usable").GetInt32() == 0);

        var none = await _client.GetAsync("v1/pools/duo/lease");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, none.StatusCode);
        Assert.Equal("application/problem+json", none.Content.Headers.ContentType?.MediaType);
        Assert.Null(none.Headers.RetryAfter); // blocks have no end a lease could wait for
        var problem = JsonDocument.Parse(await none.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("duo", problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("v1/pools/nope/lease")).StatusCode);

        var metrics = "";
        await WaitUntilAsync(async () => (metrics = await _client.GetStringAsync("metrics")).Contains("actorrefresh_leases"));
        Assert.Contains("result=\"leased\"", metrics);
        Assert.Contains("result=\"none_usable\"", metrics);
        Assert.DoesNotContain("pool-a", metrics);
    }

    private async Task<JsonElement> PoolAsync() =>
        JsonDocument.Parse(await _client.GetStringAsync("v1/pools/duo")).RootElement;

    private static JsonElement? Member(JsonElement pool, string id) =>
        pool.GetProperty("members").EnumerateArray().Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("accountId").GetString() == id);

    private static async Task WaitUntilAsync(Func<bool> condition) => await WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!await condition()) await Task.Delay(20, timeout.Token);
    }
}
