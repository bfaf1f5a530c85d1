using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Tests.Usage;

/// <summary>The pure usage rules of <see cref="AccountData"/>: what is journaled, what stays in memory, what a re-login clears.</summary>
public sealed class UsageRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly EngineOptions Options = new();
    private static readonly BackoffPolicy Backoff = new(new BackoffOptions(), () => 0.5);

    private static AccountData Registered() =>
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt-1"), new Secret("at-1"), T0.AddHours(8), null, T0));

    private static UsageOutcome Observed(double fiveHour, double sevenDay = 0, DateTimeOffset? reset = null) =>
        new UsageOutcome.QuotaObserved(new UsageSnapshot(new UsageWindow(fiveHour, reset ?? T0.AddHours(5)), new UsageWindow(sevenDay, T0.AddDays(7)), [], T0));

    [Fact]
    public void Observation_below_the_threshold_is_in_memory_only()
    {
        var d = Registered().DecideUsage(Observed(50), T0, Options, Backoff);
        Assert.Empty(d.Events);
        Assert.Equal(50, d.InMemory.FiveHourUtilization);
        Assert.Equal(50, d.InMemory.UtilisationAt(T0));
        Assert.False(d.TokenRejected);
    }

    [Fact]
    public void Crossing_the_threshold_either_way_is_journaled()
    {
        var up = Registered().DecideUsage(Observed(90), T0, Options, Backoff);
        var recorded = Assert.IsType<QuotaRecorded>(Assert.Single(up.Events));
        Assert.Equal(90, recorded.FiveHourUtilization);
        var data = up.InMemory.Apply(recorded);

        Assert.Empty(data.DecideUsage(Observed(99), T0, Options, Backoff).Events);
        var down = data.DecideUsage(Observed(10), T0, Options, Backoff);
        Assert.Equal(10, Assert.IsType<QuotaRecorded>(Assert.Single(down.Events)).FiveHourUtilization);
    }

    [Fact]
    public void A_window_past_its_reset_counts_as_empty()
    {
        var data = Registered().Apply(new QuotaRecorded(100, T0.AddMinutes(10), 20, T0.AddDays(2), T0));
        Assert.Equal(100, data.UtilisationAt(T0));
        Assert.Equal(20, data.UtilisationAt(T0.AddMinutes(10)));
        Assert.Equal(T0.AddMinutes(10), data.ToUsage()!.BelowThresholdAt(90, T0, out var over));
        Assert.True(over);
    }

    [Fact]
    public void Quota_check_failures_back_off_the_checks_and_never_touch_refresh_state()
    {
        var data = Registered();
        var limited = data.DecideUsage(new UsageOutcome.QuotaCheckRateLimited(T0.AddMinutes(20)), T0, Options, Backoff);
        Assert.Empty(limited.Events);
        Assert.Equal(T0.AddMinutes(20), limited.InMemory.QuotaCheckRetryAt);
        Assert.Equal(AccountState.Valid, limited.InMemory.State);
        Assert.Null(limited.InMemory.RetryAt);
        Assert.False(limited.InMemory.CanCheckUsage(T0.AddMinutes(19), Options));
        Assert.True(limited.InMemory.CanCheckUsage(T0.AddMinutes(20), Options));

        var transient = limited.InMemory.DecideUsage(new UsageOutcome.QuotaCheckTransient("HTTP 503"), T0, Options, Backoff);
        Assert.Equal(2, transient.InMemory.QuotaCheckAttempt);
        Assert.Equal(0, transient.InMemory.Attempt);
        Assert.Equal(TokenDecision.Serve, transient.InMemory.DecideToken(T0, Options));

        var ok = transient.InMemory.DecideUsage(Observed(1), T0, Options, Backoff).InMemory;
        Assert.Null(ok.QuotaCheckRetryAt);
        Assert.Equal(0, ok.QuotaCheckAttempt);
    }

    [Fact]
    public void Usage_401_asks_for_the_refresh_path_without_quota_backoff()
    {
        var d = Registered().DecideUsage(new UsageOutcome.AccessTokenRejected("expired"), T0, Options, Backoff);
        Assert.True(d.TokenRejected);
        Assert.Empty(d.Events);
        Assert.Null(d.InMemory.QuotaCheckRetryAt);
    }

    [Fact]
    public void Usage_403_permission_error_blocks_as_policy_with_no_quota_backoff()
    {
        var backedOff = Registered().DecideUsage(new UsageOutcome.QuotaCheckTransient("503"), T0, Options, Backoff).InMemory;
        var d = backedOff.DecideUsage(new UsageOutcome.PolicyRefused("not allowed"), T0, Options, Backoff);
        var blocked = Assert.IsType<AccountBlocked>(Assert.Single(d.Events));
        Assert.Equal(ErrorClasses.PolicyRefused, blocked.ErrorClass);
        Assert.Null(d.InMemory.QuotaCheckRetryAt);
        var data = d.InMemory.Apply(blocked);
        Assert.Equal(AccountState.PolicyBlocked, data.State);
        Assert.False(data.CanCheckUsage(T0, Options));
    }

    [Fact]
    public void Relogin_after_a_policy_block_arms_one_recheck_and_a_successful_check_unblocks()
    {
        var blocked = Registered().Apply(new AccountBlocked(ErrorClasses.PolicyRefused, "org policy", T0));
        var replaced = blocked.Apply(new CredentialsReplaced(new Secret("rt-2"), new Secret("at-2"), T0.AddHours(8), null, T0));
        Assert.Equal(AccountState.PolicyBlocked, replaced.State);
        Assert.True(replaced.PolicyRecheckPending);
        Assert.True(replaced.CanCheckUsage(T0, Options));

        var ok = replaced.DecideUsage(Observed(10), T0, Options, Backoff);
        var data = ok.Events.Aggregate(ok.InMemory, (d, e) => d.Apply(e));
        Assert.Equal(AccountState.Valid, data.State);
        Assert.False(data.PolicyRecheckPending);

        var refused = replaced.DecideUsage(new UsageOutcome.PolicyRefused("still not allowed"), T0, Options, Backoff);
        data = refused.Events.Aggregate(refused.InMemory, (d, e) => d.Apply(e));
        Assert.Equal(AccountState.PolicyBlocked, data.State);
        Assert.False(data.PolicyRecheckPending);

        var rejected = replaced.DecideUsage(new UsageOutcome.AccessTokenRejected("revoked"), T0, Options, Backoff);
        Assert.False(rejected.TokenRejected); // a blocked account does not refresh
        data = rejected.Events.Aggregate(rejected.InMemory, (d, e) => d.Apply(e));
        Assert.Equal(AccountState.PolicyBlocked, data.State);
        Assert.False(data.PolicyRecheckPending);
    }

    [Fact]
    public void Relogin_without_an_access_token_leaves_the_policy_block_to_an_operator()
    {
        var data = Registered().Apply(new AccountBlocked(ErrorClasses.PolicyRefused, "org policy", T0))
            .Apply(new CredentialsReplaced(new Secret("rt-2"), null, null, null, T0));
        Assert.False(data.PolicyRecheckPending);
        Assert.False(data.CanCheckUsage(T0, Options));
    }

    [Fact]
    public void Relogin_clears_a_dead_grant_and_the_refresh_backoff_of_the_old_token_but_keeps_quota_and_cooldown()
    {
        var data = Registered()
            .Apply(new QuotaRecorded(95, T0.AddHours(1), 10, T0.AddDays(3), T0))
            .Apply(new ApiCooldownStarted(T0.AddMinutes(10), T0))
            .Apply(new RefreshFailed(ErrorClasses.Transient, "503", T0.AddMinutes(5), false, T0))
            .Apply(new AccountBlocked(ErrorClasses.GrantRejected, "invalid_grant", T0));
        var replaced = data.Apply(new CredentialsReplaced(new Secret("rt-2"), new Secret("at-2"), T0.AddHours(8), null, T0));
        Assert.Equal(AccountState.Valid, replaced.State);
        Assert.Null(replaced.RetryAt);
        Assert.Equal(0, replaced.Attempt);
        Assert.False(replaced.PolicyRecheckPending);
        // Quota and API cooldown are about the subscription, not the token.
        Assert.Equal(95, replaced.FiveHourUtilization);
        Assert.Equal(T0.AddMinutes(10), replaced.ApiCooldownUntil);
    }

    [Fact]
    public void Passive_reports_journal_a_cooldown_only_when_it_extends_the_current_one()
    {
        var data = Registered();
        var first = data.DecidePassive(new PassiveUsage(null, null, true, T0.AddMinutes(2)), T0, Options);
        var cooldown = Assert.IsType<ApiCooldownStarted>(Assert.Single(first.Events));
        data = first.InMemory.Apply(cooldown);
        Assert.Empty(data.DecidePassive(new PassiveUsage(null, null, true, T0.AddMinutes(1)), T0, Options).Events);
        Assert.Single(data.DecidePassive(new PassiveUsage(null, null, true, T0.AddMinutes(3)), T0, Options).Events);
        Assert.Equal(T0 + Options.ApiCooldownDefault,
            Assert.IsType<ApiCooldownStarted>(Assert.Single(Registered().DecidePassive(new PassiveUsage(null, null, true, null), T0, Options).Events)).Until);
    }

    [Fact]
    public void Usage_state_prints_no_token()
    {
        var data = Registered().DecideUsage(Observed(50), T0, Options, Backoff).InMemory;
        Assert.DoesNotContain("at-1", data.ToStatus(false, null, 1).ToString());
    }
    [Fact]
    public void Missing_scope_is_journaled_once_keeps_serving_and_stops_checks_until_new_credentials()
    {
        var d = Registered().DecideUsage(new UsageOutcome.ScopeMissing("user:profile", "does not meet scope requirement user:profile"), T0, Options, Backoff);
        var missing = Assert.IsType<UsageScopeMissing>(Assert.Single(d.Events));
        Assert.False(d.TokenRejected);
        var data = d.InMemory.Apply(missing);
        Assert.Equal(AccountState.Valid, data.State);
        Assert.Equal(TokenDecision.Serve, data.DecideToken(T0, Options));
        Assert.Null(data.QuotaCheckRetryAt);
        Assert.False(data.WantsUsageChecks);
        Assert.False(data.CanCheckUsage(T0.AddDays(1), Options));
        Assert.Equal("token lacks user:profile", data.ToUsage()!.Unavailable);

        // The same answer again (a check that was already under way) journals nothing.
        Assert.Empty(data.DecideUsage(new UsageOutcome.ScopeMissing("user:profile", "x"), T0, Options, Backoff).Events);

        // A refresh keeps the grant, and so the missing scope.
        var refreshed = data.Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(16), new Secret("rt-2"), T0.AddHours(8)));
        Assert.False(refreshed.CanCheckUsage(T0.AddHours(9), Options));

        // New credentials (replace, import, adoption of a credentials file) bring the checks back.
        var replaced = refreshed.Apply(new CredentialsReplaced(new Secret("rt-3"), new Secret("at-3"), T0.AddHours(17), null, T0.AddHours(9)));
        Assert.True(replaced.CanCheckUsage(T0.AddHours(9), Options));
        Assert.Null(replaced.ToUsage()?.Unavailable);
    }

    [Fact]
    public void A_recheck_answered_with_a_missing_scope_leaves_the_policy_block_to_an_operator()
    {
        var replaced = Registered().Apply(new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy (usage check): not allowed", T0))
            .Apply(new CredentialsReplaced(new Secret("rt-2"), new Secret("at-2"), T0.AddHours(8), null, T0));
        Assert.True(replaced.PolicyRecheckPending);
        var d = replaced.DecideUsage(new UsageOutcome.ScopeMissing("user:profile", "x"), T0, Options, Backoff);
        var data = d.Events.Aggregate(d.InMemory, (a, e) => a.Apply(e));
        Assert.Equal(AccountState.PolicyBlocked, data.State);
        Assert.False(data.PolicyRecheckPending);
        Assert.Contains("lacks user:profile", data.LastError);
        Assert.Equal("user:profile", data.UsageMissingScope);

        // Unblocked by an operator: serving, and usage still unchecked for this token.
        data = data.Apply(new AccountUnblocked(T0));
        Assert.Equal(TokenDecision.Serve, data.DecideToken(T0, Options));
        Assert.False(data.CanCheckUsage(T0, Options));
    }

    [Fact]
    public void A_block_an_earlier_version_journaled_for_a_missing_scope_reads_back_as_usage_unavailable()
    {
        var legacy = new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy (usage check): OAuth token does not meet scope requirement user:profile", T0);
        var data = Registered().Apply(legacy);
        Assert.Equal(AccountState.Valid, data.State);
        Assert.Equal("user:profile", data.UsageMissingScope);

        // A real organisation-policy block from the usage check, and any token endpoint block, stay blocks.
        Assert.Equal(AccountState.PolicyBlocked, Registered().Apply(new AccountBlocked(ErrorClasses.PolicyRefused,
            "organisation policy (usage check): OAuth authentication is currently not allowed for this organization.", T0)).State);
        Assert.Equal(AccountState.PolicyBlocked, Registered().Apply(new AccountBlocked(ErrorClasses.PolicyRefused,
            "organisation policy: OAuth token does not meet scope requirement user:profile", T0)).State);
    }
}
