using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ActorRefresh.Host.Tests.Reliability;
using ActorRefresh.TestKit;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// <c>GET /v1/events</c> of a real <c>serve</c> process: a client subscribed to the stream hears an account being
/// blocked as a server-sent event; the stream needs the key and carries no token.
/// </summary>
public sealed class EventStreamTests : IAsyncLifetime
{
    private const string Key = "events-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKLMN";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-events-" + Guid.NewGuid().ToString("N"));
    private FakeTokenServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeTokenServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task A_subscribed_client_hears_an_account_being_blocked_and_no_token()
    {
        await using var serve = await HostProcess.StartAsync(Key, new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            ["ActorRefresh__Providers__claude__UsageEndpoint"] = _server.UsageEndpoint.ToString(),
        });
        using (var anonymous = new HttpClient { BaseAddress = serve.BaseAddress })
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync("v1/events")).StatusCode);

        var issued = _server.CreateAccount("ev1");
        (await serve.Client.PostAsJsonAsync("v1/accounts", new { id = "ev1", provider = "claude", refreshToken = issued.RefreshToken })).EnsureSuccessStatusCode();
        await serve.Client.GetAsync("v1/accounts/ev1/token");

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var response = await serve.Client.GetAsync("v1/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        Assert.Equal(": subscribed", await reader.ReadLineAsync(timeout.Token)); // the subscription exists from here on

        _server.Script("ev1", FakeFault.InvalidGrant());
        (await serve.Client.PostAsync("v1/accounts/ev1/refresh", null)).Dispose();

        var lines = new List<string>();
        string? data = null;
        while (data is null && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            lines.Add(line);
            if (line == "event: account.blocked") data = await reader.ReadLineAsync(timeout.Token);
        }
        Assert.NotNull(data);
        var notice = JsonNode.Parse(data!["data: ".Length..])!;
        Assert.Equal("ev1", notice["accountId"]!.GetValue<string>());
        Assert.Equal("PolicyBlocked", notice["state"]!.GetValue<string>());
        foreach (var token in new[] { issued.AccessToken, issued.RefreshToken, _server.Current("ev1").AccessToken, _server.Current("ev1").RefreshToken })
            Assert.DoesNotContain(token, string.Join("\n", lines) + data, StringComparison.Ordinal);
    }
}
