using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.TestKit.Tests;

/// <summary>A server on a fake clock plus a client, started per test so counters never leak between tests.</summary>
public abstract class ServerTest : IAsyncLifetime
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));

    protected FakeTokenServer Server { get; private set; } = null!;

    protected HttpClient Http { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    protected virtual FakeTokenServerOptions Options => new() { Time = Time };

    public async Task InitializeAsync() => Server = await FakeTokenServer.StartAsync(Options);

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }

    protected Task<HttpResponseMessage> RefreshJson(string refreshToken, string grantType = "refresh_token", string? clientId = "client", CancellationToken ct = default)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, string?>
        {
            ["grant_type"] = grantType,
            ["refresh_token"] = refreshToken,
            ["client_id"] = clientId,
            ["scope"] = "user:profile user:inference",
        });
        return PostRaw(body, "application/json", ct);
    }

    protected Task<HttpResponseMessage> RefreshForm(string refreshToken, string grantType = "refresh_token")
    {
        var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = grantType,
            ["refresh_token"] = refreshToken,
            ["client_id"] = "client",
        });
        return Http.PostAsync(Server.TokenEndpoint, content);
    }

    protected Task<HttpResponseMessage> PostRaw(string body, string mediaType, CancellationToken ct = default) =>
        Http.PostAsync(Server.TokenEndpoint, new StringContent(body, Encoding.UTF8, mediaType), ct);

    protected Task<HttpResponseMessage> GetUsage(string accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Server.UsageEndpoint);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        request.Headers.Add("anthropic-beta", "oauth-2025-04-20");
        return Http.SendAsync(request);
    }

    protected static async Task<JsonElement> Json(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    protected static async Task AssertOAuthError(HttpResponseMessage response, string error, string? description = null)
    {
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = await Json(response);
        Assert.Equal(error, json.GetProperty("error").GetString());
        if (description is not null)
        {
            Assert.Equal(description, json.GetProperty("error_description").GetString());
        }
    }

    protected static async Task AssertApiError(HttpResponseMessage response, int status, string type, string? message = null)
    {
        Assert.Equal(status, (int)response.StatusCode);
        var json = await Json(response);
        Assert.Equal("error", json.GetProperty("type").GetString());
        Assert.Equal(type, json.GetProperty("error").GetProperty("type").GetString());
        if (message is not null)
        {
            Assert.Equal(message, json.GetProperty("error").GetProperty("message").GetString());
        }
    }

    /// <summary>Waits for server-side state (a request reaching a point), never for time to pass.</summary>
    protected static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached");
            await Task.Delay(2);
        }
    }
}
