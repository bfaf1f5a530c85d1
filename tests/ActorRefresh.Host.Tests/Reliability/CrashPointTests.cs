using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.TestKit;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// A real host process killed with SIGKILL at each point of the refresh sequence (test hook ACTORREFRESH_CRASH_AT),
/// then restarted on the same data folder: the account is in the state the design promises for that point, and the
/// one unavoidable loss (the provider rotated, the process died before journaling) is reported, never silent.
/// </summary>
public sealed class CrashPointTests : IAsyncLifetime
{
    private const string Key = "crash-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
    private const string Account = "crash-acct";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-crash-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> _logs = [];
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

    [Theory]
    [InlineData("before-intent")]
    [InlineData("after-intent")]
    [InlineData("after-upstream")]
    [InlineData("after-outcome")]
    [InlineData("during-snapshot")]
    public async Task Killed_at_this_point_and_restarted_the_account_is_where_the_design_promises(string point)
    {
        var issued = _server.CreateAccount(Account);
        var environment = new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            // Account events: registered (1), refresh started (2), outcome (3): a snapshot follows the outcome.
            ["ActorRefresh__Engine__SnapshotEvery"] = point == "during-snapshot" ? "3" : "50",
        };

        // 1. First life: register, force a refresh, die at the point.
        await using (var first = await HostProcess.StartAsync(Key, new Dictionary<string, string?>(environment) { ["ACTORREFRESH_CRASH_AT"] = point }))
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
            try
            {
                await first.Client.PostAsync($"v1/accounts/{Account}/refresh", null);
            }
            catch (HttpRequestException)
            {
                // The process may die before it answers.
            }
            Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the crash point was never reached:\n" + first.Output);
            Assert.Equal(137, first.ExitCode); // 128 + SIGKILL
            Assert.Contains($"ACTORREFRESH_CRASH_AT={point} reached", first.Output, StringComparison.Ordinal);
            _logs.Add(first.Output);
        }

        var upstreamReached = point is "after-upstream" or "after-outcome" or "during-snapshot";
        Assert.Equal(upstreamReached ? 1 : 0, _server.RefreshCalls(Account));

        // 2. Second life on the same data, without the hook.
        await using (var second = await HostProcess.StartAsync(Key, environment))
        {
            var status = await StatusAsync(second);
            Assert.Equal("Valid", status.GetProperty("state").GetString());
            var maybeSpent = status.GetProperty("refreshTokenMaybeSpent").GetBoolean();
            switch (point)
            {
                case "before-intent":
                    // Nothing was journaled or sent: the old pair, no doubt about it; the next refresh works.
                    Assert.False(maybeSpent);
                    Assert.Equal(issued.AccessToken, await TokenAsync(second));
                    await RefreshAndExpectAsync(second, upstreamCalls: 1);
                    break;
                case "after-intent":
                    // The intent is journaled: the engine knows the refresh token may be spent. It was not (no call),
                    // so the next refresh succeeds and clears the doubt.
                    Assert.True(maybeSpent);
                    await RefreshAndExpectAsync(second, upstreamCalls: 1);
                    break;
                case "after-upstream":
                    // The unavoidable loss: the provider rotated, the answer died with the process. Reported at once ...
                    Assert.True(maybeSpent);
                    Assert.Equal(issued.AccessToken, await TokenAsync(second)); // the old access token is still the last known one
                    Assert.Equal(HttpStatusCode.OK, (await second.Client.PostAsync($"v1/accounts/{Account}/refresh", null)).StatusCode);
                    // ... and the next refresh meets invalid_grant and names the interrupted refresh as its cause.
                    status = await WaitForStatusAsync(second, s => s.GetProperty("state").GetString() == "PolicyBlocked");
                    Assert.Equal("interrupted_refresh", status.GetProperty("lastErrorClass").GetString());
                    Assert.False(status.GetProperty("refreshTokenMaybeSpent").GetBoolean());
                    var blocked = await second.Client.GetAsync($"v1/accounts/{Account}/token");
                    Assert.Equal(HttpStatusCode.Conflict, blocked.StatusCode);
                    Assert.Contains("interrupted refresh", await blocked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                    Assert.Equal(1, _server.RefreshTokenReuse);

                    // An operator re-imports a fresh login: the account is back.
                    var relogin = _server.RotateExternally(Account);
                    var import = await second.Client.PostAsync($"v1/import/claude?id={Account}", JsonContent.Create(new
                    {
                        claudeAiOauth = new { accessToken = relogin.AccessToken, refreshToken = relogin.RefreshToken, expiresAt = relogin.ExpiresAt.ToUnixTimeMilliseconds() },
                    }));
                    Assert.Equal(HttpStatusCode.OK, import.StatusCode);
                    Assert.Equal(relogin.AccessToken, await TokenAsync(second));
                    break;
                default:
                    // after-outcome / during-snapshot: the new pair is journaled; callers were never answered, but the
                    // restarted engine serves the new token without another call, and its next refresh spends the new
                    // refresh token (no reuse).
                    Assert.False(maybeSpent);
                    Assert.Equal(1, status.GetProperty("counters").GetProperty("refreshes").GetInt64());
                    Assert.Equal(_server.Current(Account).AccessToken, await TokenAsync(second));
                    Assert.Equal(1, _server.RefreshCalls(Account));
                    await RefreshAndExpectAsync(second, upstreamCalls: 2);
                    break;
            }
            _logs.Add(second.Output);
        }

        Assert.Equal(point == "after-upstream" ? 1 : 0, _server.RefreshTokenReuse);
        Assert.Equal(0, _server.OverlappingRefreshes);

        // Nothing the provider issued reaches the logs of either life or the data folder in clear text.
        var files = string.Concat(Directory.GetFiles(_directory).Select(f => System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        Assert.All(_server.IssuedTokens, t =>
        {
            Assert.All(_logs, log => Assert.DoesNotContain(t, log, StringComparison.Ordinal));
            Assert.DoesNotContain(t, files, StringComparison.Ordinal);
        });
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_directory));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_directory, "token-encryption.key")));
    }

    private async Task RefreshAndExpectAsync(HostProcess host, int upstreamCalls)
    {
        var before = (await StatusAsync(host)).GetProperty("counters").GetProperty("refreshes").GetInt64();
        Assert.Equal(HttpStatusCode.OK, (await host.Client.PostAsync($"v1/accounts/{Account}/refresh", null)).StatusCode);
        var status = await WaitForStatusAsync(host, s => s.GetProperty("counters").GetProperty("refreshes").GetInt64() == before + 1
                                                         && s.GetProperty("state").GetString() == "Valid");
        Assert.False(status.GetProperty("refreshTokenMaybeSpent").GetBoolean());
        Assert.Equal(upstreamCalls, _server.RefreshCalls(Account));
        Assert.Equal(_server.Current(Account).AccessToken, await TokenAsync(host));
    }

    private static async Task<string> TokenAsync(HostProcess host)
    {
        var response = await host.Client.GetAsync($"v1/accounts/{Account}/token");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("accessToken").GetString()!;
    }

    private static async Task<JsonElement> StatusAsync(HostProcess host) =>
        await host.Client.GetFromJsonAsync<JsonElement>($"v1/accounts/{Account}");

    private static async Task<JsonElement> WaitForStatusAsync(HostProcess host, Func<JsonElement, bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var status = await StatusAsync(host);
            if (condition(status)) return status;
            if (timeout.IsCancellationRequested) Assert.Fail("status never matched: " + status);
            await Task.Delay(50);
        }
    }
}
