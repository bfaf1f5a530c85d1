using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tests.Infrastructure;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Core.Tests.Usage;

/// <summary>Every usage outcome row, end to end over real HTTP on loopback.</summary>
public sealed class UsageClientTests : IAsyncLifetime
{
    private const string FullUsage = """
        {"five_hour":{"utilization":42.5,"resets_at":"2026-01-01T15:00:00.000000+00:00"},
         "seven_day":{"utilization":12,"resets_at":"2026-01-05T00:00:00+00:00"},
         "limits":[{"kind":"five_hour","percent":42.5,"resets_at":"2026-01-01T15:00:00+00:00"},
                   {"kind":"seven_day_opus","percent":77,"resets_at":null},
                   {"kind":"broken"},"junk"],
         "extra_usage":null}
        """;

    private readonly CoreServices _core = new();
    private LoopbackServer _server = null!;

    public async Task InitializeAsync() => _server = await LoopbackServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _core.Dispose();
    }

    private IUsageClient Client => _core.Provider.GetRequiredService<IUsageClient>();

    private ProviderProfile Profile()
    {
        var profile = BuiltInProviders.Claude;
        profile.UsageEndpoint = new Uri(_server.BaseAddress, "/api/oauth/usage");
        return profile;
    }

    private Task<UsageOutcome> Check(ProviderProfile? profile = null, CancellationToken cancellationToken = default) =>
        Client.CheckAsync(profile ?? Profile(), new Secret(TestTokens.Access), cancellationToken);

    private void AssertNoToken(UsageOutcome outcome)
    {
        var text = outcome switch
        {
            UsageOutcome.QuotaCheckTransient t => t.Reason,
            UsageOutcome.PolicyRefused p => p.Message,
            UsageOutcome.AccessTokenRejected a => a.Message,
            UsageOutcome.ScopeMissing m => m.Scope + " " + m.Message,
            _ => "",
        } + " " + outcome;
        foreach (var token in new[] { TestTokens.Access, TestTokens.Refresh, TestTokens.Opaque })
        {
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(_core.Logs.Lines, line => line.Contains(token, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Sends_a_bearer_get_with_json_accept_user_agent_and_usage_headers()
    {
        _server.Reply(200, FullUsage);
        await Check();

        var request = _server.Single();
        Assert.Equal("GET", request.Method);
        Assert.Equal("/api/oauth/usage", request.Path);
        Assert.Equal("Bearer " + TestTokens.Access, request.Headers["Authorization"]);
        Assert.Equal("application/json", request.Headers["Accept"]);
        Assert.Equal("ActorRefresh/1.0", request.Headers["User-Agent"]);
        Assert.Equal("oauth-2025-04-20", request.Headers["anthropic-beta"]);
    }

    [Fact]
    public async Task Ok_is_quota_observed_with_both_windows_and_readable_limits()
    {
        _server.Reply(200, FullUsage);
        var snapshot = Assert.IsType<UsageOutcome.QuotaObserved>(await Check()).Snapshot;

        Assert.Equal(42.5, snapshot.FiveHour!.Utilization);
        Assert.Equal(new DateTimeOffset(2026, 1, 1, 15, 0, 0, TimeSpan.Zero), snapshot.FiveHour.ResetsAt);
        Assert.Equal(12, snapshot.SevenDay!.Utilization);
        Assert.Equal(new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero), snapshot.SevenDay.ResetsAt);
        Assert.Equal(["five_hour", "seven_day_opus"], snapshot.Limits.Select(l => l.Kind));
        Assert.Null(snapshot.Limits[1].ResetsAt);
        Assert.Equal(CoreServices.Start, snapshot.ObservedAt);
        Assert.Equal(77, snapshot.MaxUtilization(CoreServices.Start));
    }

    [Theory]
    [InlineData("{}", null, null)]
    [InlineData("""{"five_hour":{"utilization":"55.5"}}""", 55.5, null)]
    [InlineData("""{"five_hour":null,"seven_day":{"resets_at":"x"}}""", null, null)]
    [InlineData("""{"limits":[{"kind":"seven_day","percent":130}]}""", null, 100.0)]
    [InlineData("""{"five_hour":{"utilization":-3,"resets_at":"not a date"},"seven_day":{"utilization":9}}""", 0.0, 9.0)]
    public async Task Missing_or_malformed_parts_are_tolerated(string body, double? fiveHour, double? sevenDay)
    {
        _server.Reply(200, body);
        var snapshot = Assert.IsType<UsageOutcome.QuotaObserved>(await Check()).Snapshot;
        Assert.Equal(fiveHour, snapshot.FiveHour?.Utilization);
        Assert.Equal(sevenDay, snapshot.SevenDay?.Utilization);
        Assert.Null(snapshot.FiveHour?.ResetsAt);
    }

    [Fact]
    public async Task Ok_with_an_unreadable_body_is_transient()
    {
        _server.Reply(200, "<html>maintenance</html>", "text/html");
        Assert.StartsWith("unreadable usage response", Assert.IsType<UsageOutcome.QuotaCheckTransient>(await Check()).Reason);
    }

    [Fact]
    public async Task Too_many_requests_is_a_quota_check_backoff_with_retry_after()
    {
        _server.Reply(429, """{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited."}}""", headers: ("Retry-After", "120"));
        var outcome = Assert.IsType<UsageOutcome.QuotaCheckRateLimited>(await Check());
        Assert.Equal(CoreServices.Start.AddSeconds(120), outcome.RetryAt);
        Assert.Equal("rate_limited", outcome.Kind);
    }

    [Fact]
    public async Task Too_many_requests_without_retry_after_has_no_retry_time()
    {
        _server.Reply(429, "");
        Assert.Null(Assert.IsType<UsageOutcome.QuotaCheckRateLimited>(await Check()).RetryAt);
    }

    [Fact]
    public async Task Unauthorized_is_the_access_token_rejected_without_token_text()
    {
        _server.Reply(401, $$$"""{"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired: {{{TestTokens.Access}}}"}}""");
        var outcome = Assert.IsType<UsageOutcome.AccessTokenRejected>(await Check());
        Assert.Contains("OAuth token has expired", outcome.Message);
        AssertNoToken(outcome);
    }

    [Fact]
    public async Task Forbidden_permission_error_is_policy_not_quota()
    {
        _server.Reply(403, """{"type":"error","error":{"type":"permission_error","message":"OAuth authentication is currently not allowed for this organization."}}""");
        var outcome = Assert.IsType<UsageOutcome.PolicyRefused>(await Check());
        Assert.Equal("OAuth authentication is currently not allowed for this organization.", outcome.Message);
        Assert.Equal("policy_refused", outcome.Kind);
    }

    [Theory]
    [InlineData("OAuth authentication is currently not allowed for this organization")]
    [InlineData("oauth authentication is currently NOT allowed for this organisation.")]
    [InlineData("OAuth authentication is currently not allowed\nfor this organization.")]
    [InlineData("  OAuth authentication is not allowed for this organization. Contact your administrator.")]
    public async Task Forbidden_organisation_policy_is_recognised_in_its_variants(string message)
    {
        _server.Reply(403, System.Text.Json.JsonSerializer.Serialize(new { type = "error", error = new { type = "permission_error", message } }));
        var outcome = await Check();
        Assert.Equal("policy_refused", outcome.Kind);
    }

    [Theory]
    [InlineData("OAuth token does not meet scope requirement user:profile")]
    [InlineData("OAuth token does not meet scope requirement\nuser:profile")]
    [InlineData("OAuth token does not meet scope requirement\r\n  user:profile")]
    [InlineData("oauth token does not meet scope requirements: user:profile.")]
    public async Task Forbidden_missing_scope_is_usage_unavailable_not_policy(string message)
    {
        _server.Reply(403, System.Text.Json.JsonSerializer.Serialize(new { type = "error", error = new { type = "permission_error", message } }));
        var outcome = await Check();
        Assert.Equal("scope_missing", outcome.Kind);
        Assert.Equal("user:profile", Assert.IsType<UsageOutcome.ScopeMissing>(outcome).Scope);
        AssertNoToken(outcome);
    }

    [Theory]
    [InlineData("""{"type":"error","error":{"type":"permission_error","message":"This feature is not available for your plan."}}""")]
    [InlineData("""{"type":"error","error":{"type":"permission_error"}}""")]
    [InlineData("""{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement"}}""")]
    [InlineData("""{"error":"forbidden","detail":"nope"}""")]
    [InlineData("""["permission_error"]""")]
    [InlineData("")]
    public async Task Any_other_forbidden_is_a_quota_check_refusal_never_policy(string body)
    {
        _server.Reply(403, body);
        var outcome = await Check();
        Assert.Equal("transient", outcome.Kind);
        Assert.Contains("403", Assert.IsType<UsageOutcome.QuotaCheckTransient>(outcome).Reason);
    }

    [Fact]
    public async Task A_scope_refusal_naming_a_token_shaped_scope_keeps_no_token_text()
    {
        _server.Reply(403, $$$"""{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement {{{TestTokens.Access}}}"}}""");
        var outcome = await Check();
        Assert.NotEqual("policy_refused", outcome.Kind);
        AssertNoToken(outcome);
    }

    [Fact]
    public async Task Forbidden_html_from_a_cdn_is_transient()
    {
        _server.Reply(403, "<html><body>error code: 1010</body></html>", "text/html");
        var outcome = Assert.IsType<UsageOutcome.QuotaCheckTransient>(await Check());
        Assert.Contains("1010", outcome.Reason);
        Assert.Contains("firewall", outcome.Reason);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(529)]
    public async Task Server_errors_are_transient_with_their_retry_after(int status)
    {
        _server.Reply(status, """{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""", headers: ("Retry-After", "30"));
        var outcome = Assert.IsType<UsageOutcome.QuotaCheckTransient>(await Check());
        Assert.Contains($"HTTP {status}", outcome.Reason);
        Assert.Equal(CoreServices.Start.AddSeconds(30), outcome.RetryAt);
    }

    [Fact]
    public async Task Other_statuses_are_transient()
    {
        _server.Reply(404, """{"error":"not_found"}""");
        Assert.Contains("HTTP 404", Assert.IsType<UsageOutcome.QuotaCheckTransient>(await Check()).Reason);
    }

    [Fact]
    public async Task Timeout_on_the_injected_clock_is_transient()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Handle(async ctx =>
        {
            arrived.TrySetResult();
            await HangUntilAborted(ctx);
        });
        var profile = Profile();
        profile.RequestTimeout = TimeSpan.FromSeconds(5);

        var check = Check(profile);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        _core.FakeTime.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal("timeout after 5 s", Assert.IsType<UsageOutcome.QuotaCheckTransient>(await check.WaitAsync(TimeSpan.FromSeconds(30))).Reason);
    }

    [Fact]
    public async Task Connection_failure_is_transient_without_token_text()
    {
        var closed = await LoopbackServer.StartAsync();
        var endpoint = new Uri(closed.BaseAddress, "/api/oauth/usage");
        await closed.DisposeAsync();
        var profile = Profile();
        profile.UsageEndpoint = endpoint;

        var outcome = Assert.IsType<UsageOutcome.QuotaCheckTransient>(await Check(profile));
        Assert.StartsWith("connection failure", outcome.Reason);
        AssertNoToken(outcome);
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
        var check = Check(cancellationToken: cts.Token);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => check);
    }

    [Fact]
    public async Task A_provider_without_a_usage_endpoint_is_refused()
    {
        var profile = Profile();
        profile.UsageEndpoint = null;
        await Assert.ThrowsAsync<ArgumentException>(() => Check(profile));
    }

    [Fact]
    public async Task Logs_carry_the_fingerprint_and_never_the_token()
    {
        _server.Reply(503, $"echo {TestTokens.Access}", "text/plain");
        var outcome = await Check();
        Assert.Contains(_core.Logs.Lines, line => line.Contains(Secret.FingerprintOf(TestTokens.Access), StringComparison.Ordinal));
        AssertNoToken(outcome);
    }

    private static async Task HangUntilAborted(HttpContext ctx)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client gave up.
        }
    }
}

/// <summary>The passive quota mapping of the <c>anthropic-ratelimit-unified-*</c> headers.</summary>
public sealed class UnifiedRateLimitHeadersTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static PassiveUsage Parse(int status, params (string Name, string Value)[] headers) =>
        UnifiedRateLimitHeaders.Parse(status, headers.Select(h => KeyValuePair.Create(h.Name, h.Value)), Now, RetryAfterLimits.Default);

    [Fact]
    public void Window_utilisation_fractions_and_epoch_resets_are_read()
    {
        var usage = Parse(200,
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("Anthropic-RateLimit-Unified-5h-Utilization", "0.42"),
            ("anthropic-ratelimit-unified-5h-reset", Now.AddHours(2).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("anthropic-ratelimit-unified-7d-utilization", "63"),
            ("anthropic-ratelimit-unified-7d-reset", "2026-01-04T00:00:00Z"));
        Assert.Equal(42, usage.FiveHour!.Utilization, 6);
        Assert.Equal(Now.AddHours(2), usage.FiveHour.ResetsAt);
        Assert.Equal(63, usage.SevenDay!.Utilization);
        Assert.Equal(new DateTimeOffset(2026, 1, 4, 0, 0, 0, TimeSpan.Zero), usage.SevenDay.ResetsAt);
        Assert.False(usage.Rejected);
        Assert.Null(usage.RetryAt);
    }

    [Fact]
    public void Representative_claim_maps_the_unqualified_headers_and_remaining_becomes_utilisation()
    {
        var reset = Now.AddHours(3).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var usage = Parse(200,
            ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
            ("anthropic-ratelimit-unified-remaining", "0.25"),
            ("anthropic-ratelimit-unified-reset", reset));
        Assert.Equal(75, usage.FiveHour!.Utilization, 6);
        Assert.Equal(Now.AddHours(3), usage.FiveHour.ResetsAt);
        Assert.Null(usage.SevenDay);
    }

    [Fact]
    public void Rejected_status_without_retry_after_uses_the_unified_reset()
    {
        var usage = Parse(200,
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", Now.AddMinutes(20).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(usage.Rejected);
        Assert.Equal(Now.AddMinutes(20), usage.RetryAt);
        Assert.Equal(100, usage.SevenDay!.Utilization);
    }

    [Fact]
    public void Api_429_takes_retry_after_first()
    {
        var usage = Parse(429, ("retry-after", "90"), ("anthropic-ratelimit-unified-reset", Now.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(usage.Rejected);
        Assert.Equal(Now.AddSeconds(90), usage.RetryAt);
    }

    [Fact]
    public void Api_429_without_any_time_has_no_retry_time_and_garbage_is_ignored()
    {
        var usage = Parse(429, ("anthropic-ratelimit-unified-5h-utilization", "lots"), ("anthropic-ratelimit-unified-5h-reset", "soon"));
        Assert.True(usage.Rejected);
        Assert.Null(usage.RetryAt);
        Assert.Null(usage.FiveHour);
        Assert.True(Parse(200).IsEmpty);
    }
}
