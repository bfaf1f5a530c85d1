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
    private const string Key = "e2e-key-0123456789abcdef";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-serve-" + Guid.NewGuid().ToString("N"));
    private readonly StringWriter _log = new();
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
        }, LogOutput: TextWriter.Synchronized(_log)), EngineRegistration.Add);
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

    private static async Task WaitUntilAsync(Func<bool> condition) => await WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!await condition()) await Task.Delay(20, timeout.Token);
    }
}
