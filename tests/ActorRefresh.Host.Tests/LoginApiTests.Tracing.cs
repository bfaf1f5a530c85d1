using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Web;
using ActorRefresh.Engine.Observability;
using ActorRefresh.Host.Api;
using ActorRefresh.Host.Cli;
using ActorRefresh.Testing;
using ActorRefresh.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// The <c>actorrefresh.login</c> span: one per login's end, from the HTTP API and from the CLI (which goes through it),
/// tagged with account, provider, flow and outcome, error status when refused, and no code, verifier, state, device code
/// or token in any tag.
/// </summary>
public sealed partial class LoginApiTests
{
    [Fact]
    public async Task A_pasted_login_is_one_login_span_with_provider_flow_and_outcome_and_no_secret_as_a_child_of_the_request()
    {
        var id = "traced-" + Guid.NewGuid().ToString("N")[..8];
        using var spans = new LoginSpans(id);
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: ClaudeAt(fake));
        fake.LogInAs(id);
        var login = await StartAsync(server, id);
        var start = server.Services.GetRequiredService<LoginSessions>().Peek(login.LoginId)!.Start!;
        var pasted = await BrowseAsync(login.Url);
        Assert.Empty(spans.Ended); // a started login has not ended

        var trace = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"v1/logins/{login.LoginId}") { Content = JsonContent.Create(new { code = pasted }) };
        request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        using var response = await server.Client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());

        var span = Assert.Single(spans.Ended);
        Assert.Equal(LoginSpan.Name, span.OperationName);
        Assert.Equal(ActivityKind.Internal, span.Kind);
        Assert.Equal(trace, span.TraceId); // under the request that completed it
        Assert.Equal("claude", span.GetTagItem(ActorRefreshDiagnostics.ProviderTag));
        Assert.Equal("paste", span.GetTagItem(ActorRefreshDiagnostics.LoginFlowTag));
        Assert.Equal("logged_in", span.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
        Assert.Equal(ActivityStatusCode.Ok, span.Status);
        var tokens = fake.Current(id);
        AssertNoSecretIn(span, start.Verifier.Reveal(), start.State, pasted.Split('#')[0], login.LoginId, tokens.AccessToken, tokens.RefreshToken);
    }

    [Fact]
    public async Task A_refused_exchange_and_a_foreign_state_are_error_login_spans_naming_the_outcome()
    {
        var id = "traced-" + Guid.NewGuid().ToString("N")[..8];
        using var spans = new LoginSpans(id);
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: ClaudeAt(fake));
        fake.LogInAs(id);

        var refused = await StartAsync(server, id);
        var pasted = await BrowseAsync(refused.Url);
        var (status, _) = await CompleteAsync(server, refused.LoginId, new { code = "not-the-code#" + pasted.Split('#')[1] });
        Assert.Equal(HttpStatusCode.BadGateway, status);
        var foreign = await StartAsync(server, id);
        var foreignCode = (await BrowseAsync(foreign.Url)).Split('#')[0];
        (status, _) = await CompleteAsync(server, foreign.LoginId, new { code = foreignCode + "#forged-state" });
        Assert.Equal(HttpStatusCode.BadRequest, status);

        Assert.Equal(2, spans.Ended.Length);
        Assert.All(spans.Ended, span => Assert.Equal(ActivityStatusCode.Error, span.Status));
        Assert.Equal(new[] { "grant_rejected", "state_mismatch" }, spans.Ended.Select(s => (string)s.GetTagItem(ActorRefreshDiagnostics.OutcomeTag)!));
        Assert.Equal("grant_rejected", spans.Ended[0].StatusDescription);
        foreach (var span in spans.Ended)
            AssertNoSecretIn(span, pasted.Split('#')[0], pasted.Split('#')[1], foreignCode, "forged-state", "not-the-code");
    }

    [Fact]
    public async Task A_device_login_is_one_login_span_from_the_authorization_to_its_end_and_a_denial_is_an_error()
    {
        var id = "traced-" + Guid.NewGuid().ToString("N")[..8];
        using var spans = new LoginSpans(id);
        await using var idp = await DeviceProvider.StartAsync((400, Pending),
            (200, """{"access_token":"at-traced-1","refresh_token":"rt-traced-1","expires_in":3600,"token_type":"Bearer"}"""),
            (400, """{"error":"access_denied"}"""));
        var clock = new WatchedClock(BrokerServer.Now);
        await using var server = await BrokerServer.StartAsync(settings: GenericAt(idp), clock: clock);
        var poll = TimeSpan.FromSeconds(5);

        var (approved, _, _) = await StartDeviceAsync(server, id);
        Assert.Empty(spans.Ended); // running until the user approves
        await clock.WaitForTimerAsync(poll);
        clock.Advance(poll);
        await clock.WaitForTimerAsync(poll);
        clock.Advance(poll);
        var (status, body) = await CompleteAsync(server, approved, new { });
        Assert.True(status == HttpStatusCode.OK, body);

        var span = Assert.Single(spans.Ended);
        Assert.Equal("generic", span.GetTagItem(ActorRefreshDiagnostics.ProviderTag));
        Assert.Equal("device", span.GetTagItem(ActorRefreshDiagnostics.LoginFlowTag));
        Assert.Equal("logged_in", span.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
        Assert.Equal(ActivityStatusCode.Ok, span.Status);

        var (denied, _, _) = await StartDeviceAsync(server, id);
        await clock.WaitForTimerAsync(poll);
        clock.Advance(poll);
        (status, _) = await CompleteAsync(server, denied, new { });
        Assert.Equal(HttpStatusCode.BadGateway, status);
        var refused = Assert.Single(spans.Ended, s => s.Status == ActivityStatusCode.Error);
        Assert.Equal("access_denied", refused.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
        foreach (var ended in spans.Ended)
            AssertNoSecretIn(ended, DeviceCode, "WDJB-MJHT", "at-traced-1", "rt-traced-1", approved, denied);
    }

    [Fact]
    public async Task The_cli_s_loopback_login_ends_in_the_same_span_with_flow_loopback()
    {
        var id = "traced-" + Guid.NewGuid().ToString("N")[..8];
        using var spans = new LoginSpans(id);
        await using var fake = await FakeTokenServer.StartAsync();
        await using var server = await BrokerServer.StartAsync(settings: new(EveryLogLine)
        {
            // No RedirectUri of its own: the CLI's loopback listener (RFC 8252) is the redirect.
            ["ActorRefresh:Providers:generic:TokenEndpoint"] = fake.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:generic:AuthorizeEndpoint"] = fake.AuthorizeEndpoint.ToString(),
            ["ActorRefresh:Providers:generic:ClientId"] = "loopback-client",
        });
        fake.LogInAs(id);
        var output = new PrintedLines();
        var error = new StringWriter();
        var environment = new Dictionary<string, string?>
        {
            [CliApp.ApiKeyEnvironmentVariable] = server.Key,
            [CliApp.ServerEnvironmentVariable] = server.BaseAddress.ToString(),
        };
        var cli = new CliApp(TextWriter.Synchronized(output), error, new Spectre.Console.Testing.TestConsole(), name => environment.GetValueOrDefault(name));
        var run = cli.RunAsync(["login", "generic", "--id", id, "--no-browser"]);

        // The user's browser: the fake's page shows code#state; the provider's redirect brings them to the CLI's listener.
        var url = await output.LineAsync(line => line.StartsWith("http", StringComparison.Ordinal));
        var redirect = HttpUtility.ParseQueryString(new Uri(url).Query)["redirect_uri"]!;
        var shown = (await BrowseAsync(url)).Split('#');
        using (var browser = new HttpClient())
            await browser.GetStringAsync($"{redirect}?code={Uri.EscapeDataString(shown[0])}&state={Uri.EscapeDataString(shown[1])}");
        var exit = await run.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, output + "\n" + error);

        var span = Assert.Single(spans.Ended);
        Assert.Equal("generic", span.GetTagItem(ActorRefreshDiagnostics.ProviderTag));
        Assert.Equal("loopback", span.GetTagItem(ActorRefreshDiagnostics.LoginFlowTag));
        Assert.Equal("logged_in", span.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
        var tokens = fake.Current(id);
        AssertNoSecretIn(span, shown[0], shown[1], tokens.AccessToken, tokens.RefreshToken);
    }

    private static void AssertNoSecretIn(Activity span, params string[] secrets)
    {
        var recorded = string.Join("|", span.TagObjects.Select(t => $"{t.Key}={t.Value}")
            .Concat(span.Baggage.Select(b => $"{b.Key}={b.Value}"))
            .Append(span.DisplayName).Append(span.StatusDescription ?? ""));
        Assert.Equal(
            new[] { ActorRefreshDiagnostics.AccountTag, ActorRefreshDiagnostics.ProviderTag, ActorRefreshDiagnostics.LoginFlowTag, ActorRefreshDiagnostics.OutcomeTag }.Order(),
            span.TagObjects.Select(t => t.Key).Order());
        foreach (var secret in secrets)
            Assert.DoesNotContain(secret, recorded, StringComparison.Ordinal);
    }

    /// <summary>The login spans of one account id, as they end (tests running in parallel share the activity source).</summary>
    private sealed class LoginSpans : IDisposable
    {
        private readonly ConcurrentQueue<Activity> _ended = new();
        private readonly ActivityListener _listener;

        public LoginSpans(string account)
        {
            _listener = new ActivityListener
            {
                // ASP.NET Core's too, so a request's span exists to be the login span's parent.
                ShouldListenTo = source => source.Name is ActorRefreshDiagnostics.ActivitySourceName or "Microsoft.AspNetCore",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = activity =>
                {
                    if (activity.OperationName == LoginSpan.Name && Equals(activity.GetTagItem(ActorRefreshDiagnostics.AccountTag), account))
                        _ended.Enqueue(activity);
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public Activity[] Ended => [.. _ended];

        public void Dispose() => _listener.Dispose();
    }
}
