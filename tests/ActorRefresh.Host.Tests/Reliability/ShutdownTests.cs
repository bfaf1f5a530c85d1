using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.TestKit;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// SIGTERM to a real <c>serve</c> process while a refresh is on its way: the process waits for the provider's answer,
/// journals it and exits cleanly, even when the answer takes longer than Akka's default shutdown phase timeouts.
/// </summary>
public sealed class ShutdownTests : IAsyncLifetime
{
    private const string Key = "shutdown-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
    private const string Account = "shutdown-acct";
    private static readonly TimeSpan UpstreamLatency = TimeSpan.FromSeconds(7);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-shutdown-" + Guid.NewGuid().ToString("N"));
    private FakeTokenServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { Latency = UpstreamLatency });

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
    public async Task Sigterm_during_a_slow_refresh_waits_for_the_answer_journals_it_and_exits_cleanly()
    {
        var issued = _server.CreateAccount(Account);
        var environment = new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            ["ActorRefresh__Providers__claude__UsageEndpoint"] = _server.UsageEndpoint.ToString(),
        };

        await using (var first = await HostProcess.StartAsync(Key, environment))
        {
            var register = await first.Client.PostAsJsonAsync("v1/accounts", new
            {
                id = Account,
                provider = "claude",
                refreshToken = issued.RefreshToken,
                accessToken = issued.AccessToken,
                expiresAt = DateTimeOffset.UtcNow.AddHours(1),
            });
            Assert.Equal(HttpStatusCode.Created, register.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await first.Client.PostAsync($"v1/accounts/{Account}/refresh", null)).StatusCode);
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
                while (_server.InFlightRefreshes(Account) == 0) await Task.Delay(10, timeout.Token);

            var terminated = Stopwatch.StartNew();
            first.Terminate();
            Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(90)), "serve did not exit after SIGTERM:\n" + first.Output);
            Assert.True(first.ExitCode == 0, $"serve exited with {first.ExitCode}:\n{first.Output}");
            // It waited for the answer (the upstream call was still running when the signal came).
            Assert.True(terminated.Elapsed >= UpstreamLatency - TimeSpan.FromSeconds(1), $"exited after {terminated.Elapsed}");
        }

        // The provider answered once and rotated; nobody presented a refresh token twice.
        Assert.Equal(1, _server.RefreshCalls(Account));
        Assert.NotEqual(issued.RefreshToken, _server.Current(Account).RefreshToken);

        await using var second = await HostProcess.StartAsync(Key, environment);
        var status = await second.Client.GetFromJsonAsync<JsonElement>($"v1/accounts/{Account}");
        Assert.Equal("Valid", status.GetProperty("state").GetString());
        Assert.False(status.GetProperty("refreshTokenMaybeSpent").GetBoolean(), status.ToString());
        Assert.Equal(1, status.GetProperty("counters").GetProperty("refreshes").GetInt64());
        var token = await second.Client.GetFromJsonAsync<JsonElement>($"v1/accounts/{Account}/token");
        Assert.Equal(_server.Current(Account).AccessToken, token.GetProperty("accessToken").GetString());
        Assert.Equal(0, _server.RefreshTokenReuse);
        Assert.Equal(0, _server.OverlappingRefreshes);
    }
}
