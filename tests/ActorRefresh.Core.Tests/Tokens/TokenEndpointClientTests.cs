using System.Net;
using System.Text;
using System.Text.Json;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tests.Infrastructure;
using ActorRefresh.Core.Tokens;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Core.Tests.Tokens;

/// <summary>Every classification row, end to end over real HTTP on loopback.</summary>
public sealed class TokenEndpointClientTests : IAsyncLifetime
{
    private const string FullSuccess = $$$"""
        {"token_type":"Bearer","access_token":"{{{TestTokens.Access}}}","refresh_token":"{{{TestTokens.NewRefresh}}}",
         "expires_in":28800,"scope":"user:inference user:profile",
         "organization":{"uuid":"org-uuid-1","name":"Acme"},
         "account":{"uuid":"acct-uuid-1","email_address":"dev@example.com"}}
        """;

    private readonly CoreServices _core = new();
    private LoopbackServer _server = null!;

    public async Task InitializeAsync() => _server = await LoopbackServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _core.Dispose();
    }

    private Task<RefreshOutcome> Refresh(ProviderProfile? profile = null, CancellationToken cancellationToken = default) =>
        _core.Client.RefreshAsync(profile ?? CoreServices.ClaudeAt(_server), new Secret(TestTokens.Refresh), cancellationToken);

    private void AssertNoTokenAnywhere(RefreshOutcome outcome)
    {
        var text = outcome switch
        {
            RefreshOutcome.Transient t => t.Reason,
            RefreshOutcome.PolicyRefused p => p.Message,
            RefreshOutcome.GrantRejected g => g.Error + " " + g.Description,
            RefreshOutcome.Rejected r => r.Message,
            _ => "",
        } + " " + outcome;
        foreach (var token in new[] { TestTokens.Refresh, TestTokens.Access, TestTokens.NewRefresh, TestTokens.Opaque })
        {
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(_core.Logs.Lines, line => line.Contains(token, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Claude_profile_sends_a_json_body_with_scope_user_agent_and_extra_headers()
    {
        _server.Reply(200, FullSuccess);
        var profile = CoreServices.ClaudeAt(_server);
        profile.Headers["anthropic-client"] = "gateway-7";

        await Refresh(profile);

        var request = _server.Single();
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/oauth/token", request.Path);
        Assert.Equal("application/json", request.ContentType);
        Assert.Equal("application/json", request.Headers["Accept"]);
        Assert.Equal("ActorRefresh/1.0", request.Headers["User-Agent"]);
        Assert.Equal("gateway-7", request.Headers["anthropic-client"]);
        Assert.False(request.Headers.ContainsKey("Authorization"));
        using var body = JsonDocument.Parse(request.Body);
        var fields = body.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(new Dictionary<string, string?>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = TestTokens.Refresh,
            ["client_id"] = "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
            ["scope"] = "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload",
        }, fields);
    }

    [Fact]
    public async Task Json_body_omits_scope_when_the_profile_has_none()
    {
        _server.Reply(200, FullSuccess);
        var profile = CoreServices.ClaudeAt(_server);
        profile.Scope = null;

        await Refresh(profile);

        using var body = JsonDocument.Parse(_server.Single().Body);
        Assert.False(body.RootElement.TryGetProperty("scope", out _));
    }

    [Fact]
    public async Task Generic_profile_sends_a_form_body_and_basic_client_authentication()
    {
        _server.Reply(200, FullSuccess);
        var profile = Generic(ClientAuthMethod.Basic);

        await Refresh(profile);

        var request = _server.Single();
        Assert.StartsWith("application/x-www-form-urlencoded", request.ContentType);
        var form = ParseForm(request.Body);
        Assert.Equal("refresh_token", form["grant_type"]);
        Assert.Equal(TestTokens.Refresh, form["refresh_token"]);
        Assert.Equal("my client", form["client_id"]);
        Assert.Equal("read write", form["scope"]);
        Assert.False(form.ContainsKey("client_secret"));
        var authorization = request.Headers["Authorization"];
        Assert.StartsWith("Basic ", authorization);
        var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..]));
        Assert.Equal("my+client:s%3Acr%26t", decoded); // RFC 6749 2.3.1: form-encoded before Basic
        Assert.Equal("custom-agent/2", request.Headers["User-Agent"]);
        Assert.Equal("yes", request.Headers["X-Extra"]);
    }

    [Fact]
    public async Task Post_client_authentication_puts_the_secret_in_the_body()
    {
        _server.Reply(200, FullSuccess);

        await Refresh(Generic(ClientAuthMethod.Post));

        var request = _server.Single();
        Assert.False(request.Headers.ContainsKey("Authorization"));
        var form = ParseForm(request.Body);
        Assert.Equal("s:cr&t", form["client_secret"]);
        Assert.Equal("my client", form["client_id"]);
    }

    [Fact]
    public async Task Success_with_rotation_returns_both_tokens_expiry_and_account()
    {
        _server.Reply(200, FullSuccess);

        var outcome = Assert.IsType<RefreshOutcome.Refreshed>(await Refresh());

        Assert.Equal(TestTokens.Access, outcome.AccessToken.Reveal());
        Assert.Equal(TestTokens.NewRefresh, outcome.RefreshToken?.Reveal());
        Assert.Equal(CoreServices.Start.AddHours(8), outcome.ExpiresAt);
        Assert.Equal(new TokenAccountInfo("acct-uuid-1", "dev@example.com", "org-uuid-1", "Acme"), outcome.Account);
        AssertNoTokenAnywhere(outcome);
    }

    [Theory]
    [InlineData($$"""{"access_token":"{{TestTokens.Access}}","expires_in":3600}""")]
    [InlineData($$"""{"access_token":"{{TestTokens.Access}}","expires_in":3600,"refresh_token":""}""")]
    [InlineData($$"""{"access_token":"{{TestTokens.Access}}","expires_in":"3600","refresh_token":null}""")]
    public async Task Success_without_a_refresh_token_keeps_the_old_one(string body)
    {
        _server.Reply(200, body);

        var outcome = Assert.IsType<RefreshOutcome.Refreshed>(await Refresh());

        Assert.Null(outcome.RefreshToken);
        Assert.Null(outcome.Account);
        Assert.Equal(CoreServices.Start.AddHours(1), outcome.ExpiresAt);
    }

    [Theory]
    [InlineData("<html>ok</html>", "text/html")]
    [InlineData("", "application/json")]
    [InlineData("""{"access_token":"","expires_in":3600}""", "application/json")]
    [InlineData($$"""{"access_token":"{{TestTokens.Access}}"}""", "application/json")]
    [InlineData($$"""{"access_token":"{{TestTokens.Access}}","expires_in":-5}""", "application/json")]
    [InlineData($$"""{"access_token":"{{TestTokens.Access}}","expires_in":36""", "application/json")]
    [InlineData("[1,2,3]", "application/json")]
    public async Task Unreadable_success_is_transient(string body, string contentType)
    {
        _server.Reply(200, body, contentType);

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.Contains("unreadable", outcome.Reason);
        Assert.True(outcome.AnswerMayBeLost); // a 200 means the provider rotated; the pair could not be read
        AssertNoTokenAnywhere(outcome);
    }

    [Fact]
    public async Task Rate_limit_with_delta_seconds_sets_retry_at()
    {
        _server.Reply(429, """{"error":{"type":"rate_limit_error","message":"Rate limited. Please try again later."}}""", "application/json", ("Retry-After", "120"));

        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(await Refresh());

        Assert.Equal(CoreServices.Start.AddSeconds(120), outcome.RetryAt);
    }

    [Fact]
    public async Task Rate_limit_with_an_http_date_sets_retry_at()
    {
        _server.Reply(429, "", "text/plain", ("Retry-After", "Thu, 01 Jan 2026 12:10:00 GMT"));

        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(await Refresh());

        Assert.Equal(CoreServices.Start.AddMinutes(10), outcome.RetryAt);
    }

    [Fact]
    public async Task Rate_limit_prefers_retry_after_ms()
    {
        _server.Reply(429, "", "text/plain", ("Retry-After", "120"), ("Retry-After-Ms", "2500"));

        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(await Refresh());

        Assert.Equal(CoreServices.Start.AddMilliseconds(2500), outcome.RetryAt);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("soon")]
    public async Task Rate_limit_without_a_usable_retry_after_has_no_retry_at(string? retryAfter)
    {
        var headers = retryAfter is null ? [] : new[] { ("Retry-After", retryAfter) };
        _server.Reply(429, """{"error":{"type":"rate_limit_error","message":"Rate limited."}}""", "application/json", headers);

        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(await Refresh());

        Assert.Null(outcome.RetryAt);
    }

    [Fact]
    public async Task A_retry_after_of_hours_is_honoured_as_given()
    {
        // Found by review: a Retry-After above an hour was lowered to the hour, so the account called before the provider allowed.
        _server.Reply(429, "", "text/plain", ("Retry-After", "10800"));

        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(await Refresh());

        Assert.Equal(CoreServices.Start.AddHours(3), outcome.RetryAt);
    }

    [Fact]
    public async Task A_corrupt_gzip_success_body_counts_as_an_answer_that_may_be_lost()
    {
        // Found by review: the decompression failure escaped as an exception, which the account took for "nothing spent".
        // The provider answered 200, so it has rotated: the refresh token may be spent.
        _server.Handle(async ctx =>
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/json";
            ctx.Response.Headers.ContentEncoding = "gzip";
            await ctx.Response.Body.WriteAsync(new byte[] { 0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 });
        });

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.True(outcome.AnswerMayBeLost);
        AssertNoTokenAnywhere(outcome);
    }

    [Fact]
    public async Task Rate_limit_retry_after_is_clamped_to_the_configured_maximum()
    {
        _server.Reply(429, "", "text/plain", ("Retry-After", "999999999"));

        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(await Refresh());

        Assert.Equal(CoreServices.Start.AddDays(1), outcome.RetryAt); // the hard cap: a day
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(529)]
    public async Task Server_errors_are_transient(int status)
    {
        _server.Reply(status, """{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""");

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), outcome.Reason);
        Assert.Null(outcome.RetryAt);
        Assert.False(outcome.AnswerMayBeLost); // the provider answered: nothing was spent
        Assert.Single(_server.Requests); // no automatic retries: the account owns the retry policy
    }

    [Fact]
    public async Task An_oversized_success_body_is_cut_off_and_unreadable()
    {
        _server.Reply(200, $$"""{"padding":"{{new string('p', 100_000)}}","access_token":"{{TestTokens.Access}}","expires_in":3600}""");

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.Contains("unreadable", outcome.Reason);
    }

    [Fact]
    public async Task Server_error_carries_its_retry_after()
    {
        _server.Reply(503, "<html>maintenance</html>", "text/html", ("Retry-After", "30"));

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.Equal(CoreServices.Start.AddSeconds(30), outcome.RetryAt);
    }

    [Theory]
    [InlineData("<!DOCTYPE html><html><body>error code: 1010</body></html>", "text/html")]
    [InlineData("error code: 1010", "text/plain")]
    [InlineData("", "text/plain")]
    [InlineData("""{"error":{"type":"forbidden","message":"blocked by rule"}}""", "application/json")]
    public async Task Forbidden_without_permission_error_is_a_transient_firewall_refusal(string body, string contentType)
    {
        _server.Reply(403, body, contentType);

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.StartsWith("refused by a web application firewall / CDN (403", outcome.Reason);
        AssertNoTokenAnywhere(outcome);
    }

    [Theory]
    [InlineData("""{"type":"error","error":{"type":"permission_error","message":"OAuth authentication is currently not allowed for this organization."}}""")]
    [InlineData("""{"error":{"type":"permission_error","message":"OAuth authentication is currently not allowed for this organization."}}""")]
    public async Task Forbidden_permission_error_is_a_policy_refusal(string body)
    {
        _server.Reply(403, body);

        var outcome = Assert.IsType<RefreshOutcome.PolicyRefused>(await Refresh());

        Assert.Equal("OAuth authentication is currently not allowed for this organization.", outcome.Message);
    }

    [Theory]
    [InlineData(400, """{"error":"invalid_grant","error_description":"Refresh token not found or invalid"}""", "invalid_grant", "Refresh token not found or invalid")]
    [InlineData(400, """{"error":"invalid_grant","error_description":"Refresh token expired"}""", "invalid_grant", "Refresh token expired")]
    [InlineData(401, """{"error":"invalid_client"}""", "invalid_client", null)]
    [InlineData(400, """{"error":"unauthorized_client","error_description":"no refresh grant"}""", "unauthorized_client", "no refresh grant")]
    [InlineData(400, """{"type":"error","error":{"type":"invalid_grant","message":"Refresh token not found or invalid"}}""", "invalid_grant", "Refresh token not found or invalid")]
    [InlineData(401, """{"error":{"type":"invalid_client","message":"unknown client"}}""", "invalid_client", "unknown client")]
    public async Task Dead_grants_are_grant_rejected(int status, string body, string error, string? description)
    {
        _server.Reply(status, body);

        var outcome = Assert.IsType<RefreshOutcome.GrantRejected>(await Refresh());

        Assert.Equal(error, outcome.Error);
        Assert.Equal(description, outcome.Description);
    }

    [Theory]
    [InlineData(400, """{"type":"error","error":{"type":"invalid_request_error","message":"Invalid request format"}}""", "invalid_request_error: Invalid request format")]
    [InlineData(400, """{"error":"invalid_scope","error_description":"scope not allowed"}""", "invalid_scope: scope not allowed")]
    [InlineData(401, """{"type":"error","error":{"type":"authentication_error","message":"bad"}}""", "authentication_error: bad")]
    [InlineData(404, "Not Found", "Not Found")]
    [InlineData(405, "", "HTTP 405 with an empty body")]
    [InlineData(422, """{"message":"unprocessable"}""", "unprocessable")]
    public async Task Other_client_errors_are_rejected_with_the_message_from_the_body(int status, string body, string message)
    {
        _server.Reply(status, body, body.StartsWith('{') ? "application/json" : "text/plain");

        var outcome = Assert.IsType<RefreshOutcome.Rejected>(await Refresh());

        Assert.Equal(status, outcome.Status);
        Assert.Equal(message, outcome.Message);
    }

    [Fact]
    public async Task Rejected_message_is_truncated_to_200_characters()
    {
        _server.Reply(404, "<html>" + new string('x', 5000) + "</html>", "text/html");

        var outcome = Assert.IsType<RefreshOutcome.Rejected>(await Refresh());

        Assert.True(outcome.Message.Length <= 200, $"length {outcome.Message.Length}");
        Assert.StartsWith("<html>xxx", outcome.Message);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(403)]
    [InlineData(500)]
    public async Task Messages_never_carry_token_text_echoed_by_the_body(int status)
    {
        var body = $$$"""
            {"error":"invalid_request","error_description":"token {{{TestTokens.Refresh}}} and {{{TestTokens.Opaque}}} rejected",
             "access_token":"{{{TestTokens.Opaque}}}","message":"{{{TestTokens.Access}}}"}
            """;
        _server.Reply(status, body);

        var outcome = await Refresh();

        Assert.IsNotType<RefreshOutcome.Refreshed>(outcome);
        AssertNoTokenAnywhere(outcome);
    }

    [Fact]
    public async Task Html_body_echoing_the_refresh_token_is_scrubbed()
    {
        _server.Reply(403, $"<html>blocked request with refresh_token={TestTokens.Refresh}</html>", "text/html");

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh());

        Assert.Contains("[redacted]", outcome.Reason);
        AssertNoTokenAnywhere(outcome);
    }

    [Fact]
    public async Task Redirects_are_not_followed()
    {
        _server.Reply(302, "", "text/plain", ("Location", "http://127.0.0.1:1/elsewhere"));

        var outcome = Assert.IsType<RefreshOutcome.Rejected>(await Refresh());

        Assert.Equal(302, outcome.Status);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Request_timeout_on_the_injected_clock_is_transient()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Handle(async ctx =>
        {
            arrived.TrySetResult();
            await HangUntilAborted(ctx);
        });
        var profile = CoreServices.ClaudeAt(_server);
        profile.RequestTimeout = TimeSpan.FromSeconds(5);

        var refresh = Refresh(profile);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        _core.FakeTime.Advance(TimeSpan.FromSeconds(5));

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await refresh.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("timeout after 5 s", outcome.Reason);
        Assert.True(outcome.AnswerMayBeLost); // the provider may have rotated before the answer was given up on
    }

    [Fact]
    public async Task Request_timeout_on_the_system_clock_is_transient()
    {
        using var core = new CoreServices(TimeProvider.System);
        _server.Handle(HangUntilAborted);
        var profile = CoreServices.ClaudeAt(_server);
        profile.RequestTimeout = TimeSpan.FromMilliseconds(200);

        var outcome = await core.Client.RefreshAsync(profile, new Secret(TestTokens.Refresh), CancellationToken.None);

        Assert.Equal("timeout after 0.2 s", Assert.IsType<RefreshOutcome.Transient>(outcome).Reason);
    }

    [Fact]
    public async Task Caller_cancellation_throws_instead_of_classifying()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Handle(async ctx =>
        {
            arrived.TrySetResult();
            await HangUntilAborted(ctx);
        });
        using var cts = new CancellationTokenSource();

        var refresh = Refresh(cancellationToken: cts.Token);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => refresh);
        Assert.Equal(cts.Token, ex.CancellationToken);
    }

    [Fact]
    public async Task Connection_failure_is_transient_without_token_text()
    {
        var closed = await LoopbackServer.StartAsync();
        var endpoint = closed.TokenEndpoint;
        await closed.DisposeAsync();
        var profile = BuiltInProviders.Claude;
        profile.TokenEndpoint = endpoint;

        var outcome = Assert.IsType<RefreshOutcome.Transient>(await Refresh(profile));

        Assert.StartsWith("connection failure", outcome.Reason);
        Assert.False(outcome.AnswerMayBeLost); // the connection never opened: nothing reached the provider
        AssertNoTokenAnywhere(outcome);
    }

    [Fact]
    public async Task Logs_carry_the_fingerprint_and_never_a_token()
    {
        _server.Reply(200, FullSuccess);

        await Refresh();

        Assert.Contains(_core.Logs.Lines, line => line.Contains(Secret.FingerprintOf(TestTokens.Refresh), StringComparison.Ordinal));
        AssertNoTokenAnywhere(new RefreshOutcome.RateLimited(null));
    }

    private static async Task HangUntilAborted(HttpContext ctx)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client gave up: exactly what the test is about.
        }
    }

    private ProviderProfile Generic(ClientAuthMethod auth)
    {
        var profile = BuiltInProviders.Generic;
        profile.Name = "generic-test";
        profile.TokenEndpoint = _server.TokenEndpoint;
        profile.ClientId = "my client";
        profile.ClientSecret = "s:cr&t";
        profile.ClientAuth = auth;
        profile.Scope = "read write";
        profile.UserAgent = "custom-agent/2";
        profile.Headers["X-Extra"] = "yes";
        return profile;
    }

    private static Dictionary<string, string> ParseForm(string body) =>
        body.Split('&').Select(pair => pair.Split('=', 2))
            .ToDictionary(p => WebUtility.UrlDecode(p[0]), p => WebUtility.UrlDecode(p[1]));
}
