using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Tests.Infrastructure;
using ActorRefresh.Core.Tokens;
using FsCheck;
using FsCheck.Xunit;

namespace ActorRefresh.Core.Tests.Tokens;

/// <summary>The classifier on its own: rows HTTP cannot easily produce, and properties over arbitrary answers.</summary>
public sealed class RefreshResponseClassifierTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly Secret Sent = new(TestTokens.Refresh);

    private static RefreshOutcome Classify(int status, string? body, params (string Name, string Value)[] headers)
    {
        using var response = new HttpResponseMessage();
        foreach (var (name, value) in headers)
            response.Headers.TryAddWithoutValidation(name, value);
        return RefreshResponseClassifier.Classify(status, response.Headers, body, Sent, Now, RetryAfterLimits.Default);
    }

    private static string TextOf(RefreshOutcome outcome) => outcome switch
    {
        RefreshOutcome.Transient t => t.Reason,
        RefreshOutcome.PolicyRefused p => p.Message,
        RefreshOutcome.GrantRejected g => $"{g.Error} {g.Description}",
        RefreshOutcome.Rejected r => r.Message,
        _ => "",
    };

    [Fact]
    public void Redirects_are_a_configuration_error_naming_the_location()
    {
        var outcome = Assert.IsType<RefreshOutcome.Rejected>(Classify(301, "", ("Location", "https://elsewhere.test/token")));
        Assert.Equal(301, outcome.Status);
        Assert.Contains("https://elsewhere.test/token", outcome.Message);
    }

    [Fact]
    public void Informational_statuses_are_transient()
    {
        Assert.IsType<RefreshOutcome.Transient>(Classify(101, ""));
    }

    [Fact]
    public void Any_2xx_with_a_token_is_a_success()
    {
        var outcome = Assert.IsType<RefreshOutcome.Refreshed>(Classify(201, $$"""{"access_token":"{{TestTokens.Access}}","expires_in":60.5}"""));
        Assert.Equal(Now.AddSeconds(60.5), outcome.ExpiresAt);
    }

    [Fact]
    public void A_token_that_expires_on_arrival_is_still_a_success_that_keeps_the_rotated_pair()
    {
        // Found by review: expires_in 0 was "unreadable", so the refresh token the provider had just rotated to was dropped.
        // The engine keeps the pair and backs off instead (the access token is useless, the refresh token is not).
        var outcome = Assert.IsType<RefreshOutcome.Refreshed>(Classify(200,
            $$"""{"access_token":"{{TestTokens.Access}}","refresh_token":"{{TestTokens.NewRefresh}}","expires_in":0}"""));
        Assert.Equal(Now, outcome.ExpiresAt);
        Assert.Equal(TestTokens.NewRefresh, outcome.RefreshToken!.Reveal());
    }

    [Fact]
    public void The_grant_end_the_provider_sends_is_kept_and_a_useless_one_ignored()
    {
        var told = Assert.IsType<RefreshOutcome.Refreshed>(Classify(200,
            $$"""{"access_token":"{{TestTokens.Access}}","expires_in":3600,"refresh_token_expires_in":2592000}"""));
        Assert.Equal(Now.AddDays(30), told.RefreshTokenExpiresAt);

        var silent = Assert.IsType<RefreshOutcome.Refreshed>(Classify(200, $$"""{"access_token":"{{TestTokens.Access}}","expires_in":3600}"""));
        Assert.Null(silent.RefreshTokenExpiresAt);
        // Zero or a word says nothing usable about the grant; the token itself is still good.
        var zero = Assert.IsType<RefreshOutcome.Refreshed>(Classify(200,
            $$"""{"access_token":"{{TestTokens.Access}}","expires_in":3600,"refresh_token_expires_in":0}"""));
        Assert.Null(zero.RefreshTokenExpiresAt);
        var word = Assert.IsType<RefreshOutcome.Refreshed>(Classify(200,
            $$"""{"access_token":"{{TestTokens.Access}}","expires_in":3600,"refresh_token_expires_in":"soon"}"""));
        Assert.Null(word.RefreshTokenExpiresAt);
    }

    [Fact]
    public void Absurd_expiry_is_unreadable()
    {
        Assert.IsType<RefreshOutcome.Transient>(Classify(200, $$"""{"access_token":"{{TestTokens.Access}}","expires_in":1e300}"""));
    }

    [Fact]
    public void Partial_account_details_are_kept()
    {
        var outcome = Assert.IsType<RefreshOutcome.Refreshed>(Classify(200, $$$"""{"access_token":"{{{TestTokens.Access}}}","expires_in":60,"organization":{"uuid":"o1"}}"""));
        Assert.Equal(new TokenAccountInfo(null, null, "o1", null), outcome.Account);
    }

    [Fact]
    public void Flat_permission_error_code_is_a_policy_refusal()
    {
        var outcome = Assert.IsType<RefreshOutcome.PolicyRefused>(Classify(403, """{"error":"permission_error","error_description":"org policy"}"""));
        Assert.Equal("org policy", outcome.Message);
    }

    [Fact]
    public void Grant_errors_on_other_statuses_are_not_grant_rejections()
    {
        Assert.IsType<RefreshOutcome.Transient>(Classify(403, """{"error":"invalid_grant"}"""));
        Assert.IsType<RefreshOutcome.Rejected>(Classify(404, """{"error":"invalid_grant"}"""));
    }

    [Fact]
    public void Token_shaped_text_is_redacted_even_when_never_seen()
    {
        var outcome = Assert.IsType<RefreshOutcome.Rejected>(Classify(400, "bad sk-ant-oat01-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig here"));
        Assert.Equal("bad [redacted] and [redacted] here", outcome.Message);
    }

    [Fact]
    public void Json_escaped_tokens_are_redacted_after_decoding()
    {
        var escaped = "\\u0073" + TestTokens.Refresh[1..];
        var outcome = Assert.IsType<RefreshOutcome.GrantRejected>(Classify(400, $$"""{"error":"invalid_grant","error_description":"unknown {{escaped}}"}"""));
        Assert.Equal("unknown [redacted]", outcome.Description);
    }

    [Fact]
    public void Retry_after_is_clamped_with_the_given_limits()
    {
        var outcome = Assert.IsType<RefreshOutcome.RateLimited>(Classify(429, "", ("Retry-After", "-5")));
        Assert.Equal(Now.AddSeconds(1), outcome.RetryAt);
    }

    [Property(MaxTest = 3000)]
    public bool Every_answer_maps_to_one_outcome_without_leaking_the_refresh_token(PositiveInt statusSeed, string? prefix, string? suffix, bool asJson)
    {
        var status = 100 + statusSeed.Get % 500;
        var noise = $"{prefix} {TestTokens.Refresh} {suffix}";
        var body = asJson
            ? $$$"""{"error":{"type":"permission_error","message":{{{System.Text.Json.JsonSerializer.Serialize(noise)}}}},"error_description":{{{System.Text.Json.JsonSerializer.Serialize(noise)}}}}"""
            : noise;

        var outcome = Classify(status, body);

        var text = TextOf(outcome);
        return !text.Contains(TestTokens.Refresh, StringComparison.Ordinal) && text.Length <= RefreshResponseClassifier.MaxMessageLength + 100;
    }

    [Property(MaxTest = 1000)]
    public bool Arbitrary_bodies_never_throw(int status, string? body)
    {
        Classify(status, body);
        return true;
    }
}
