using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Web;
using ActorRefresh.Host.Api;
using ActorRefresh.Testing;
using ActorRefresh.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// The login endpoints in the real host composition on the server's (fake) clock: a login lives 10 minutes and is single
/// use; no answer after the start and no log line carries its verifier, state or device code; a device login is polled
/// by the broker by the provider's interval and its end is answered once.
/// </summary>
public sealed partial class LoginApiTests
{
    [GeneratedRegex("<code id=\"code\">([^<]+)</code>")]
    private static partial Regex CodePattern();

    /// <summary>Every log level, so a secret in any line (the HTTP stack's too) would be seen.</summary>
    private static readonly Dictionary<string, string?> EveryLogLine = new()
    {
        ["Serilog:MinimumLevel:Default"] = "Verbose",
        ["Serilog:MinimumLevel:Override:Microsoft"] = "Verbose",
        ["Serilog:MinimumLevel:Override:System.Net.Http.HttpClient"] = "Verbose",
    };

    private static Dictionary<string, string?> ClaudeAt(FakeTokenServer fake) => new(EveryLogLine)
    {
        ["ActorRefresh:Providers:claude:TokenEndpoint"] = fake.TokenEndpoint.ToString(),
        ["ActorRefresh:Providers:claude:AuthorizeEndpoint"] = fake.AuthorizeEndpoint.ToString(),
    };

    private static async Task<(string LoginId, string Url)> StartAsync(BrokerServer server, string id)
    {
        using var response = await server.Client.PostAsJsonAsync($"v1/accounts/{id}/login", new { provider = "claude" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, server.Log.ToString());
        var started = await response.Content.ReadFromJsonAsync<JsonObject>();
        return (started!["loginId"]!.GetValue<string>(), started["authorizeUrl"]!.GetValue<string>());
    }

    /// <summary>The user's browser: opens the URL and copies the <c>code#state</c> the page shows.</summary>
    private static async Task<string> BrowseAsync(string url)
    {
        using var browser = new HttpClient();
        return CodePattern().Match(await browser.GetStringAsync(url)).Groups[1].Value;
    }

    private static async Task<(HttpStatusCode Status, string Body)> CompleteAsync(BrokerServer server, string loginId, object body)
    {
        using var response = await server.Client.PostAsJsonAsync($"v1/logins/{loginId}", body);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_login_lives_ten_minutes_on_the_servers_clock()
    {
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: ClaudeAt(fake));
        fake.LogInAs("lifetime");
        var early = await StartAsync(server, "lifetime");
        var late = await StartAsync(server, "lifetime");
        var earlyCode = await BrowseAsync(early.Url);
        var lateCode = await BrowseAsync(late.Url);

        server.Time.Advance(LoginSessions.Lifetime - TimeSpan.FromSeconds(1));
        var inTime = await CompleteAsync(server, early.LoginId, new { code = earlyCode });
        Assert.True(inTime.Status == HttpStatusCode.OK, inTime.Body);

        server.Time.Advance(TimeSpan.FromSeconds(2));
        var tooLate = await CompleteAsync(server, late.LoginId, new { code = lateCode });
        Assert.Equal(HttpStatusCode.NotFound, tooLate.Status);
        Assert.Contains("10 minutes", tooLate.Body, StringComparison.Ordinal);
        Assert.Equal(1, fake.CodeExchanges);
    }

    [Fact]
    public async Task A_refused_exchange_uses_the_login_up()
    {
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: ClaudeAt(fake));
        fake.LogInAs("refused");
        var login = await StartAsync(server, "refused");
        var pasted = await BrowseAsync(login.Url);

        var refused = await CompleteAsync(server, login.LoginId, new { code = "not-the-code#" + pasted.Split('#')[1] });
        Assert.Equal(HttpStatusCode.BadGateway, refused.Status);
        Assert.Contains("invalid_grant", refused.Body, StringComparison.Ordinal);

        var retried = await CompleteAsync(server, login.LoginId, new { code = pasted });
        Assert.Equal(HttpStatusCode.NotFound, retried.Status);
        Assert.Equal(0, fake.CodeExchanges);
        Assert.Null(server.Tokens.CredentialsOf("refused"));
    }

    [Fact]
    public async Task No_answer_after_the_start_and_no_log_line_carries_the_verifier_the_state_or_the_code()
    {
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: ClaudeAt(fake));
        var sessions = server.Services.GetRequiredService<LoginSessions>();
        fake.LogInAs("quiet");
        var secrets = new List<string>();
        var answers = new List<string>();

        var forged = await StartAsync(server, "quiet");
        var forgedStart = sessions.Peek(forged.LoginId)!.Start!;
        secrets.AddRange([forgedStart.Verifier.Reveal(), forgedStart.State]);
        Assert.DoesNotContain(forgedStart.Verifier.Reveal(), forged.Url, StringComparison.Ordinal);
        var forgedCode = await BrowseAsync(forged.Url);
        secrets.Add(forgedCode.Split('#')[0]);
        var (status, body) = await CompleteAsync(server, forged.LoginId, new { code = "two words" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        answers.Add(body);
        (status, body) = await CompleteAsync(server, forged.LoginId, new { code = forgedCode.Split('#')[0] + "#forged-state" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        answers.Add(body);

        var login = await StartAsync(server, "quiet");
        var start = sessions.Peek(login.LoginId)!.Start!;
        secrets.AddRange([start.Verifier.Reveal(), start.State]);
        var pasted = await BrowseAsync(login.Url);
        secrets.Add(pasted.Split('#')[0]);
        (status, body) = await CompleteAsync(server, login.LoginId, new { code = pasted });
        Assert.True(status == HttpStatusCode.OK, body);
        answers.Add(body);
        (status, body) = await CompleteAsync(server, login.LoginId, new { code = pasted });
        Assert.Equal(HttpStatusCode.NotFound, status);
        answers.Add(body);
        answers.Add(await server.Client.GetStringAsync("v1/accounts/quiet"));
        secrets.Add(fake.Current("quiet").RefreshToken);

        var log = server.Log.ToString();
        Assert.Contains("/v1/logins/" + login.LoginId, log, StringComparison.Ordinal); // the requests were logged, without their secrets
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, log, StringComparison.Ordinal);
            foreach (var answer in answers)
                Assert.DoesNotContain(secret, answer, StringComparison.Ordinal);
        }
    }

    private const string DeviceCode = "dc-never-shown-8d1f2c";
    private const string Pending = """{"error":"authorization_pending"}""";

    // The generic profile: the in-memory engine of these tests knows only the built-in provider names.
    private static Dictionary<string, string?> GenericAt(DeviceProvider idp) => new(EveryLogLine)
    {
        ["ActorRefresh:Providers:generic:TokenEndpoint"] = new Uri(idp.BaseAddress, "token").ToString(),
        ["ActorRefresh:Providers:generic:DeviceAuthorizationEndpoint"] = new Uri(idp.BaseAddress, "device").ToString(),
        ["ActorRefresh:Providers:generic:ClientId"] = "device-client",
    };

    private static async Task<(string LoginId, JsonObject Started, string Body)> StartDeviceAsync(BrokerServer server, string id)
    {
        using var response = await server.Client.PostAsJsonAsync($"v1/accounts/{id}/login", new { provider = "generic", device = true });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        var started = JsonNode.Parse(body)!.AsObject();
        return (started["loginId"]!.GetValue<string>(), started, body);
    }

    [Fact]
    public async Task A_device_login_is_polled_by_the_broker_at_the_interval_and_its_end_is_answered_once()
    {
        await using var idp = await DeviceProvider.StartAsync((400, Pending), (400, Pending),
            (200, """{"access_token":"at-device-1","refresh_token":"rt-device-1","expires_in":3600,"token_type":"Bearer"}"""));
        var clock = new WatchedClock(BrokerServer.Now);
        await using var server = await BrokerServer.StartAsync(settings: GenericAt(idp), clock: clock);
        var poll = TimeSpan.FromSeconds(5);

        var (loginId, started, startBody) = await StartDeviceAsync(server, "device-1");
        Assert.Equal("WDJB-MJHT", started["userCode"]!.GetValue<string>());
        Assert.Equal("https://idp.example/device", started["verificationUri"]!.GetValue<string>());
        Assert.Equal(5, started["interval"]!.GetValue<int>());
        Assert.Null(started["authorizeUrl"]);
        Assert.DoesNotContain(DeviceCode, startBody, StringComparison.Ordinal);

        await clock.WaitForTimerAsync(poll);
        clock.Advance(poll);
        await clock.WaitForTimerAsync(poll); // the first poll was answered "pending"; the second waits
        var waiting = CompleteAsync(server, loginId, new { });
        await clock.WaitForTimerAsync(LoginEndpoints.DeviceWait);
        clock.Advance(LoginEndpoints.DeviceWait);
        var (status, pendingBody) = await waiting;
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("pending", JsonNode.Parse(pendingBody)!["status"]!.GetValue<string>());

        await clock.WaitForTimerAsync(poll); // the second poll was "pending" too; the third gets the tokens
        clock.Advance(poll);
        var (doneStatus, doneBody) = await CompleteAsync(server, loginId, new { });
        Assert.True(doneStatus == HttpStatusCode.OK, doneBody);
        Assert.Equal("Valid", JsonNode.Parse(doneBody)!["state"]!.GetValue<string>());
        Assert.Equal("rt-device-1", server.Tokens.CredentialsOf("device-1")!.RefreshToken!.Reveal());
        var (againStatus, againBody) = await CompleteAsync(server, loginId, new { });
        Assert.Equal(HttpStatusCode.NotFound, againStatus);

        Assert.Equal(3, idp.Polls.Count);
        Assert.All(idp.Polls, form => Assert.Equal(DeviceCode, HttpUtility.ParseQueryString(form)["device_code"]));
        Assert.Contains(new Uri(idp.BaseAddress, "token").ToString(), server.Log.ToString(), StringComparison.Ordinal); // the polls were logged
        foreach (var text in new[] { pendingBody, doneBody, againBody, server.Log.ToString() })
            Assert.DoesNotContain(DeviceCode, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_denied_device_login_answers_502_naming_the_denial()
    {
        await using var idp = await DeviceProvider.StartAsync((400, """{"error":"access_denied"}"""));
        var clock = new WatchedClock(BrokerServer.Now);
        await using var server = await BrokerServer.StartAsync(settings: GenericAt(idp), clock: clock);

        var (loginId, _, _) = await StartDeviceAsync(server, "device-denied");
        await clock.WaitForTimerAsync(TimeSpan.FromSeconds(5));
        clock.Advance(TimeSpan.FromSeconds(5));
        var (status, body) = await CompleteAsync(server, loginId, new { });

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Contains("access_denied", body, StringComparison.Ordinal);
        Assert.Null(server.Tokens.CredentialsOf("device-denied"));
        var (code, _) = await CompleteAsync(server, loginId, new { code = "abc" });
        Assert.Equal(HttpStatusCode.NotFound, code);
    }

    /// <summary>A scripted RFC 8628 provider on loopback: a fixed device answer, then the token endpoint's answers in turn.</summary>
    private sealed class DeviceProvider : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(int Status, string Body)> _answers;

        private DeviceProvider(WebApplication app, IEnumerable<(int, string)> answers)
        {
            _app = app;
            _answers = new(answers);
        }

        public Uri BaseAddress { get; private set; } = null!;

        /// <summary>The form bodies of the token requests.</summary>
        public ConcurrentQueue<string> Polls { get; } = new();

        public static async Task<DeviceProvider> StartAsync(params (int Status, string Body)[] answers)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var provider = new DeviceProvider(app, answers);
            app.MapPost("/device", () => Results.Text(
                $$"""{"device_code":"{{DeviceCode}}","user_code":"WDJB-MJHT","verification_uri":"https://idp.example/device","expires_in":600}""",
                "application/json"));
            app.MapPost("/token", async (HttpRequest request) =>
            {
                using var reader = new StreamReader(request.Body);
                provider.Polls.Enqueue(await reader.ReadToEndAsync());
                var (status, body) = provider._answers.TryDequeue(out var next) ? next : (500, "{}");
                return Results.Text(body, "application/json", statusCode: status);
            });
            await app.StartAsync();
            provider.BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/");
            return provider;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
