using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Engine.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>The pure rules of an account, without an actor system.</summary>
public sealed class AccountDataTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly EngineOptions Options = new();
    private static readonly BackoffPolicy Backoff = new(new BackoffOptions(), () => 0.5);

    private static AccountData Registered(DateTimeOffset? expiresAt = null) =>
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt-1"), new Secret("at-1"), expiresAt ?? T0.AddHours(8), null, T0));

    [Fact]
    public void Unregistered_account_answers_not_registered() =>
        Assert.Equal(TokenDecision.NotRegistered, AccountData.Empty("a1").DecideToken(T0, Options));

    [Fact]
    public void Fresh_token_is_served_until_the_refresh_point()
    {
        var data = Registered();
        Assert.Equal(TokenDecision.Serve, data.DecideToken(T0.AddHours(8) - Options.RefreshLead - TimeSpan.FromTicks(1), Options));
        Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0.AddHours(8) - Options.RefreshLead, Options));
    }

    [Fact]
    public void Adopting_a_file_s_pair_drops_an_expired_access_token_and_keeps_the_known_grant_end_unless_the_file_says_otherwise()
    {
        var known = Registered() with { GrantExpiresAt = T0.AddDays(7) };
        var expired = new ClaudeCredentials(new Secret("at-file"), new Secret("rt-file"), T0.AddMinutes(-1), [], null);
        var adopted = known.AdoptionOf(expired, T0, maxGrantLifetime: null);
        Assert.Equal("rt-file", adopted.RefreshToken!.Reveal());
        Assert.Null(adopted.AccessToken);
        Assert.Null(adopted.ExpiresAt);
        Assert.Equal(T0.AddDays(7), adopted.GrantExpiresAt);

        var told = expired with { ExpiresAt = T0.AddHours(8), RefreshTokenExpiresAt = T0.AddDays(30) };
        var fresh = known.AdoptionOf(told, T0, maxGrantLifetime: null);
        Assert.Equal("at-file", fresh.AccessToken!.Reveal());
        Assert.Equal(T0.AddDays(30), fresh.GrantExpiresAt);
    }

    [Fact]
    public void Refreshed_without_a_new_refresh_token_keeps_the_old_one()
    {
        var data = Registered().Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(16), null, T0));
        Assert.Equal("rt-1", data.RefreshToken!.Reveal());
        Assert.Equal("at-2", data.AccessToken!.Reveal());
    }

    [Fact]
    public void Rate_limit_backs_off_until_retry_after_and_serves_a_still_valid_token()
    {
        var data = Registered(T0.AddMinutes(4)); // already inside the lead: needs a refresh
        var e = data.DecideOutcome(new RefreshOutcome.RateLimited(T0.AddSeconds(30)), T0, Backoff, interruptedBefore: false);
        var failed = Assert.IsType<RefreshFailed>(e);
        Assert.Equal(T0.AddSeconds(30), failed.RetryAt);
        Assert.True(failed.RateLimit);

        data = data.Apply(e);
        Assert.Equal(AccountState.BackingOff, data.State);
        Assert.Equal(TokenDecision.Serve, data.DecideToken(T0.AddSeconds(10), Options)); // 4 min left > 30 s minimum validity
        Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0.AddSeconds(30), Options));
    }

    [Fact]
    public void Backing_off_without_a_valid_token_answers_backoff()
    {
        var data = Registered(T0.AddSeconds(20));
        data = data.Apply(data.DecideOutcome(new RefreshOutcome.Transient("HTTP 503"), T0, Backoff, false));
        Assert.Equal(TokenDecision.BackOff, data.DecideToken(T0.AddMilliseconds(100), Options));
    }

    [Theory]
    [InlineData("policy")]
    [InlineData("grant")]
    public void Policy_refusal_and_dead_grant_block(string kind)
    {
        RefreshOutcome outcome = kind == "policy"
            ? new RefreshOutcome.PolicyRefused("OAuth authentication is currently not allowed for this organization.")
            : new RefreshOutcome.GrantRejected("invalid_grant", "Refresh token not found or invalid");
        var data = Registered();
        data = data.Apply(data.DecideOutcome(outcome, T0, Backoff, false));
        Assert.Equal(AccountState.PolicyBlocked, data.State);
        Assert.Equal(TokenDecision.Blocked, data.DecideToken(T0, Options));
        Assert.Null(data.RetryAt);
    }

    [Fact]
    public void Dead_grant_after_an_interrupted_refresh_is_reported_as_consumed_token()
    {
        var data = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0));
        Assert.True(data.ToStatus(refreshing: false, null, 2).RefreshTokenMaybeSpent);
        var e = Assert.IsType<AccountBlocked>(data.DecideOutcome(new RefreshOutcome.GrantRejected("invalid_grant", null), T0, Backoff, interruptedBefore: true));
        Assert.Equal(ErrorClasses.InterruptedRefresh, e.ErrorClass);
        Assert.Contains("consumed by an interrupted refresh", e.Reason);
    }

    [Fact]
    public void Configuration_errors_back_off_for_the_long_delay()
    {
        var data = Registered();
        var e = Assert.IsType<RefreshFailed>(data.DecideOutcome(new RefreshOutcome.Rejected(400, "invalid_request"), T0, Backoff, false));
        Assert.Equal(T0 + new BackoffOptions().RejectedDelay, e.RetryAt);
    }

    [Fact]
    public void New_credentials_clear_a_dead_grant_but_not_an_organisation_policy_block()
    {
        var replaced = new CredentialsReplaced(new Secret("rt-new"), null, null, null, T0);
        var grant = Registered().Apply(new AccountBlocked(ErrorClasses.GrantRejected, "invalid_grant", T0)).Apply(replaced);
        Assert.Equal(AccountState.Valid, grant.State);

        var policy = Registered().Apply(new AccountBlocked(ErrorClasses.PolicyRefused, "org policy", T0)).Apply(replaced);
        Assert.Equal(AccountState.PolicyBlocked, policy.State);
        Assert.Equal(AccountState.Valid, policy.Apply(new AccountUnblocked(T0)).State);
    }

    [Fact]
    public void New_credentials_keep_a_pending_rate_limit_but_clear_a_transient_backoff()
    {
        var replaced = new CredentialsReplaced(new Secret("rt-new"), null, null, null, T0.AddSeconds(5));
        var rateLimited = Registered().Apply(new RefreshFailed(ErrorClasses.RateLimited, "429", T0.AddSeconds(30), true, T0)).Apply(replaced);
        Assert.Equal(T0.AddSeconds(30), rateLimited.RetryAt);

        var transient = Registered().Apply(new RefreshFailed(ErrorClasses.Transient, "503", T0.AddSeconds(30), false, T0)).Apply(replaced);
        Assert.Null(transient.RetryAt);
        Assert.Equal(0, transient.Attempt);
    }

    [Fact]
    public void Consecutive_failures_grow_the_attempt_and_success_resets_it()
    {
        var data = Registered();
        data = data.Apply(new RefreshFailed(ErrorClasses.Transient, "503", T0.AddSeconds(1), false, T0));
        data = data.Apply(new RefreshFailed(ErrorClasses.Transient, "503", T0.AddSeconds(3), false, T0));
        Assert.Equal(2, data.Attempt);
        data = data.Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), new Secret("rt-2"), T0));
        Assert.Equal(0, data.Attempt);
        Assert.Equal(AccountState.Valid, data.State);
        Assert.Equal(new AccountCounters(1, 2, 0), data.Counters);
    }

    [Fact]
    public void State_and_status_print_no_token()
    {
        var data = Registered();
        Assert.DoesNotContain("rt-1", data.ToString());
        Assert.DoesNotContain("at-1", data.ToString());
        Assert.DoesNotContain("at-1", data.ToStatus(false, null, 1).ToString());
        Assert.DoesNotContain("rt-1", new AccountRegistered("claude", new Secret("rt-1"), null, null, null, T0).ToString());
    }

    [Fact]
    public void A_lost_answer_keeps_the_refresh_token_possibly_spent_and_a_later_dead_grant_says_so()
    {
        var data = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0));
        var failed = Assert.IsType<RefreshFailed>(data.DecideOutcome(new RefreshOutcome.Transient("connection reset", AnswerMayBeLost: true), T0, Backoff, false));
        Assert.True(failed.TokenMaybeSpent);
        data = data.Apply(failed);
        Assert.Equal(AccountState.BackingOff, data.State);
        Assert.True(data.ToStatus(refreshing: false, null, 3).RefreshTokenMaybeSpent);

        // A transient failure with an answer (a 503) says nothing was spent.
        var plain = Registered().Apply(new RefreshStarted("fp", T0));
        plain = plain.Apply(plain.DecideOutcome(new RefreshOutcome.Transient("HTTP 503"), T0, Backoff, false));
        Assert.False(plain.ToStatus(false, null, 3).RefreshTokenMaybeSpent);

        // A success clears the doubt.
        Assert.False(data.Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), new Secret("rt-2"), T0)).ToStatus(false, null, 4).RefreshTokenMaybeSpent);
    }

    private static ClaudeCredentials File(string refresh, string access, DateTimeOffset expiresAt) =>
        new(new Secret(access), new Secret(refresh), expiresAt, [], null);

    [Fact]
    public void The_same_pair_read_again_changes_nothing_even_when_the_account_holds_no_access_token()
    {
        // Imported with an expired access token (dropped): the account holds the refresh token only, the file both.
        var data = AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt-1"), null, null, "/f", T0));
        Assert.Equal(CredentialsFileDecision.Nothing, data.DecideCredentialsFile(File("rt-1", "at-old", T0.AddHours(-1)), T0));
        var blocked = data.Apply(new AccountBlocked(ErrorClasses.GrantRejected, "invalid_grant", T0));
        Assert.Equal(CredentialsFileDecision.Nothing, blocked.DecideCredentialsFile(File("rt-1", "at-old", T0.AddHours(-1)), T0));
        var backingOff = data.Apply(new RefreshFailed(ErrorClasses.Transient, "503", T0.AddMinutes(5), false, T0));
        Assert.Equal(CredentialsFileDecision.Nothing, backingOff.DecideCredentialsFile(File("rt-1", "at-old", T0.AddHours(-1)), T0));

        // The same pair as held: nothing; the same refresh token with a newer valid access token: adopted (a provider
        // that keeps refresh tokens, refreshed by the other program); with an older one: written back.
        var held = Registered();
        Assert.Equal(CredentialsFileDecision.Nothing, held.DecideCredentialsFile(File("rt-1", "at-1", T0.AddHours(8)), T0));
        Assert.Equal(CredentialsFileDecision.Adopt, held.DecideCredentialsFile(File("rt-1", "at-9", T0.AddHours(9)), T0));
        Assert.Equal(CredentialsFileDecision.WriteBack, held.DecideCredentialsFile(File("rt-1", "at-0", T0.AddHours(7)), T0));
        Assert.Equal(CredentialsFileDecision.Adopt, blocked.DecideCredentialsFile(File("rt-1", "at-9", T0.AddHours(9)), T0));

        // A different refresh token (a re-login) is adopted, also by a blocked account.
        Assert.Equal(CredentialsFileDecision.Adopt, blocked.DecideCredentialsFile(File("rt-2", "at-2", T0.AddHours(8)), T0));
        Assert.Equal(CredentialsFileDecision.Adopt, blocked.DecideCredentialsFile(File("rt-2", "at-2", T0.AddHours(-1)), T0));
    }

    private static AccountData Static(DateTimeOffset expiresAt) =>
        AccountData.Empty("s1").Apply(new AccountRegistered("claude", null, new Secret("at-long"), expiresAt, null, T0) { GrantExpiresAt = expiresAt });

    [Fact]
    public void A_long_lived_token_is_served_to_its_expiry_then_expired_and_never_refreshed()
    {
        var data = Static(T0.AddDays(365));
        Assert.True(data.IsStatic);
        Assert.Equal(TokenDecision.Serve, data.DecideToken(T0.AddDays(365) - TimeSpan.FromTicks(1), Options));
        Assert.Equal(TokenDecision.Expired, data.DecideToken(T0.AddDays(365), Options));
        Assert.Null(data.DecideStatic(T0.AddDays(1), tokenRejected: false));
        Assert.Equal(ErrorClasses.TokenExpired, data.DecideStatic(T0.AddDays(365), tokenRejected: false)!.ErrorClass);
        var rejected = data.DecideStatic(T0.AddDays(1), tokenRejected: true)!;
        Assert.Equal(ErrorClasses.TokenRejected, rejected.ErrorClass);

        // Even a rate-limit backoff kept over new credentials never makes it refresh.
        Assert.Equal(TokenDecision.Expired, data.Apply(new RefreshFailed(ErrorClasses.RateLimited, "429", T0.AddDays(400), true, T0)).DecideToken(T0.AddDays(366), Options));

        // New credentials clear either block; a refreshable login makes it an ordinary account.
        foreach (var block in new[] { rejected, data.DecideStatic(T0.AddDays(365), false)! })
        {
            var blocked = data.Apply(block);
            Assert.True(blocked.IsBlocked);
            var renewed = blocked.Apply(new CredentialsReplaced(null, new Secret("at-new"), T0.AddDays(700), null, T0.AddDays(366)));
            Assert.False(renewed.IsBlocked);
            Assert.Equal(TokenDecision.Serve, renewed.DecideToken(T0.AddDays(367), Options));
            var login = blocked.Apply(new CredentialsReplaced(new Secret("rt-1"), new Secret("at-1"), T0.AddDays(366).AddHours(8), null, T0.AddDays(366)));
            Assert.False(login.IsStatic);
            Assert.Equal(TokenDecision.Refresh, login.DecideToken(T0.AddDays(367), Options));
        }
    }

    [Fact]
    public void Grant_ends_come_from_the_provider_then_the_token_then_the_maximum_life()
    {
        var max = TimeSpan.FromDays(30);
        Assert.Equal(T0.AddDays(3), AccountData.GrantEndOf(T0.AddDays(3), isStatic: false, T0.AddHours(8), max, T0));
        Assert.Equal(T0.AddDays(365), AccountData.GrantEndOf(null, isStatic: true, T0.AddDays(365), max, T0));
        Assert.Equal(T0.AddDays(30), AccountData.GrantEndOf(null, isStatic: false, T0.AddHours(8), max, T0));
        Assert.Null(AccountData.GrantEndOf(null, isStatic: false, T0.AddHours(8), null, T0));

        // A refresh keeps the end unless the provider says otherwise; new credentials bring their own.
        var data = Registered().Apply(new CredentialsReplaced(new Secret("rt-2"), null, null, null, T0) { GrantExpiresAt = T0.AddDays(30) });
        Assert.Equal(T0.AddDays(30), data.Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), new Secret("rt-3"), T0)).GrantExpiresAt);
        Assert.Equal(T0.AddDays(9), data.Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), null, T0) { GrantExpiresAt = T0.AddDays(9) }).GrantExpiresAt);
        Assert.Null(data.Apply(new CredentialsReplaced(new Secret("rt-4"), null, null, null, T0)).GrantExpiresAt);
    }

    [Fact]
    public void Grant_warnings_are_due_once_each_and_only_the_most_urgent_after_a_gap()
    {
        var end = T0.AddDays(40);
        var data = Static(end);
        Assert.Null(data.DecideGrantNotice(T0));
        Assert.Equal(end.AddDays(-30), data.NextGrantNoticeAt(T0));

        var first = data.DecideGrantNotice(end.AddDays(-30))!;
        Assert.Equal(30, first.Days);
        data = data.Apply(first);
        Assert.Null(data.DecideGrantNotice(end.AddDays(-29)));
        Assert.Equal(end.AddDays(-7), data.NextGrantNoticeAt(end.AddDays(-29)));

        // Down for a while: at five days left only the 7-day warning is due, once.
        var second = data.DecideGrantNotice(end.AddDays(-5))!;
        Assert.Equal(7, second.Days);
        data = data.Apply(second);
        Assert.Null(data.DecideGrantNotice(end.AddDays(-5)));
        Assert.Equal(1, data.DecideGrantNotice(end.AddHours(-23))!.Days);
        Assert.Null(data.DecideGrantNotice(end));
        Assert.Null(data.NextGrantNoticeAt(end.AddHours(-1)));

        // A new grant end starts the warnings over; a blocked account gets none.
        var renewed = data.Apply(new CredentialsReplaced(null, new Secret("at-2"), end.AddDays(10), null, end.AddDays(-5)) { GrantExpiresAt = end.AddDays(10) });
        Assert.Equal(30, renewed.DecideGrantNotice(end.AddDays(-5))!.Days);
        Assert.Null(renewed.Apply(new AccountBlocked(ErrorClasses.Operator, "x", end)).DecideGrantNotice(end.AddDays(-5)));
    }

    [Fact]
    public void A_credentials_file_without_a_refresh_token_is_never_adopted()
    {
        // An access-only file (materialized for a sandbox, a setup-token file) would leave the account unable to refresh.
        var accessOnly = new ClaudeCredentials(new Secret("at-9"), null, T0.AddDays(300), [], null);
        Assert.Equal(CredentialsFileDecision.Nothing, Registered().DecideCredentialsFile(accessOnly, T0));
        Assert.Equal(CredentialsFileDecision.Nothing,
            Registered().Apply(new AccountBlocked(ErrorClasses.GrantRejected, "invalid_grant", T0)).DecideCredentialsFile(accessOnly, T0));
    }

    [Fact]
    public void A_refresh_token_the_account_spent_is_never_adopted_back()
    {
        var data = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0))
            .Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), new Secret("rt-2"), T0));
        Assert.True(data.HasSpent(new Secret("rt-1")));
        Assert.False(data.HasSpent(new Secret("rt-2")));
        // However late its file claims to expire.
        Assert.Equal(CredentialsFileDecision.WriteBack, data.DecideCredentialsFile(File("rt-1", "at-1", T0.AddDays(30)), T0));

        // A provider that keeps the refresh token spent nothing.
        var kept = Registered().Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), null, T0))
            .Apply(new TokensRefreshed(new Secret("at-3"), T0.AddHours(8), new Secret("rt-1"), T0));
        Assert.False(kept.HasSpent(new Secret("rt-1")));

        // A refresh token an interrupted refresh may have consumed is spent once new credentials replace it.
        var interrupted = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0))
            .Apply(new CredentialsReplaced(new Secret("rt-9"), new Secret("at-9"), T0.AddHours(8), null, T0));
        Assert.True(interrupted.HasSpent(new Secret("rt-1")));
        var replaced = Registered().Apply(new CredentialsReplaced(new Secret("rt-9"), new Secret("at-9"), T0.AddHours(8), null, T0));
        Assert.False(replaced.HasSpent(new Secret("rt-1")));

        // Bounded: the newest are kept, the oldest forgotten; removal forgets them all.
        for (var i = 2; i <= AccountData.SpentTokensKept + 1; i++)
            data = data.Apply(new TokensRefreshed(new Secret($"at-{i + 1}"), T0.AddHours(8), new Secret($"rt-{i + 1}"), T0));
        Assert.Equal(AccountData.SpentTokensKept, data.SpentRefreshTokens!.Split(' ').Length);
        Assert.False(data.HasSpent(new Secret("rt-1")));
        Assert.True(data.HasSpent(new Secret("rt-2")));
        Assert.True(data.HasSpent(new Secret($"rt-{AccountData.SpentTokensKept + 1}")));
        Assert.Null(data.Apply(new AccountRemoved(T0)).SpentRefreshTokens);
    }

    // ---- the refresh point follows the lifetime the provider granted ----------------------------------------

    private static AccountData RefreshedAt(DateTimeOffset at, TimeSpan lifetime) =>
        Registered().Apply(new TokensRefreshed(new Secret("at-2"), at + lifetime, new Secret("rt-2"), at));

    [Theory]
    [InlineData(2, 0.5)]
    [InlineData(60, 15)]
    [InlineData(300, 75)]
    [InlineData(1200, 300)]
    [InlineData(28800, 300)]
    [InlineData(31536000, 300)]
    public void The_lead_is_a_quarter_of_the_lifetime_up_to_the_refresh_lead(long lifetimeSeconds, double leadSeconds)
    {
        var lifetime = TimeSpan.FromSeconds(lifetimeSeconds);
        var data = RefreshedAt(T0, lifetime);
        var timing = data.Timing(Options);
        Assert.Equal(TimeSpan.FromSeconds(leadSeconds), timing.Lead);
        // Jitter and minimum validity keep their ratio to the lead (2 min and 30 s to 5 min).
        Assert.Equal(timing.Lead * 0.4, timing.Jitter);
        Assert.Equal(timing.Lead * 0.1, timing.MinimumValidity);
        Assert.Equal(T0 + lifetime - timing.Lead, data.RefreshPoint(Options));
        // Served fresh until the refresh point, and while backing off until the minimum validity.
        Assert.Equal(TokenDecision.Serve, data.DecideToken(T0 + lifetime - timing.Lead - TimeSpan.FromTicks(1), Options));
        Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0 + lifetime - timing.Lead, Options));
        var backingOff = data.Apply(new RefreshFailed(ErrorClasses.Transient, "503", T0 + lifetime, false, T0));
        Assert.Equal(TokenDecision.Serve, backingOff.DecideToken(T0 + lifetime - timing.MinimumValidity - TimeSpan.FromTicks(1), Options));
        Assert.Equal(TokenDecision.BackOff, backingOff.DecideToken(T0 + lifetime - timing.MinimumValidity, Options));
    }

    [Fact]
    public void A_token_of_unknown_lifetime_uses_the_settings_as_they_are()
    {
        // Registered and imported tokens carry no issue time: the configured lead, as before.
        var registered = Registered(T0.AddSeconds(60));
        Assert.Null(registered.Lifetime);
        Assert.Equal(new RefreshTiming(Options.RefreshLead, Options.RefreshJitter, Options.MinimumValidity), registered.Timing(Options));
        var replaced = RefreshedAt(T0, TimeSpan.FromSeconds(60)).Apply(new CredentialsReplaced(new Secret("rt-3"), new Secret("at-3"), T0.AddSeconds(60), null, T0));
        Assert.Null(replaced.Lifetime);
        // A snapshot written before the issue time was recorded reads back without it: the same.
        Assert.Null((RefreshedAt(T0, TimeSpan.FromSeconds(60)) with { AccessTokenIssuedAt = null }).Lifetime);
    }

    [Fact]
    public void A_token_that_expired_on_arrival_is_kept_and_followed_by_a_growing_backoff()
    {
        var data = Registered(T0.AddSeconds(10));
        var refreshed = Assert.IsType<TokensRefreshed>(data.DecideOutcome(new RefreshOutcome.Refreshed(new Secret("at-2"), T0, new Secret("rt-2"), null), T0, Backoff, false));
        var backoff = data.DecideArrival(refreshed, Backoff);
        Assert.NotNull(backoff);
        Assert.Equal(ErrorClasses.ExpiredOnArrival, backoff.ErrorClass);
        Assert.True(backoff.RetryAt > T0);
        data = data.Apply(refreshed).Apply(backoff);
        Assert.Equal("rt-2", data.RefreshToken!.Reveal());
        Assert.Equal(AccountState.BackingOff, data.State);
        Assert.Equal(TokenDecision.BackOff, data.DecideToken(T0, Options));
        Assert.Equal(1, data.Attempt);

        // The next one that arrives expired waits longer: the attempts are not reset by the useless token.
        var t1 = backoff.RetryAt;
        var again = new TokensRefreshed(new Secret("at-3"), t1, new Secret("rt-3"), t1);
        var second = data.DecideArrival(again, Backoff)!;
        Assert.True(second.RetryAt - t1 > backoff.RetryAt - T0);
        Assert.Equal(2, data.Apply(again).Apply(second).Attempt);

        // A usable token needs no backoff.
        Assert.Null(data.DecideArrival(new TokensRefreshed(new Secret("at-4"), t1.AddSeconds(2), null, t1), Backoff));
    }

    // ---- "may be spent" stays until it is settled ----------------------------------------------------------

    public static TheoryData<string> FailuresAfterALostAnswer() => ["429", "503", "cdn-403", "queue-full", "400-other"];

    [Theory]
    [MemberData(nameof(FailuresAfterALostAnswer))]
    public void A_later_failure_keeps_the_marker_of_a_lost_answer(string kind)
    {
        RefreshOutcome outcome = kind switch
        {
            "429" => new RefreshOutcome.RateLimited(T0.AddSeconds(30)),
            "503" => new RefreshOutcome.Transient("HTTP 503"),
            "cdn-403" => new RefreshOutcome.Transient("refused by the CDN (HTTP 403)"),
            "queue-full" => new RefreshOutcome.Transient("refresh queue of this node is full"),
            _ => new RefreshOutcome.Rejected(400, "invalid_request"),
        };
        var lost = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0))
            .Apply(new RefreshFailed(ErrorClasses.Transient, "connection reset", T0.AddSeconds(1), false, T0, TokenMaybeSpent: true));
        var e = Assert.IsType<RefreshFailed>(lost.DecideOutcome(outcome, T0, Backoff, interruptedBefore: true));
        Assert.True(e.TokenMaybeSpent);
        Assert.True(lost.Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0)).Apply(e).ToStatus(false, null, 5).RefreshTokenMaybeSpent);
    }

    [Fact]
    public void Blocks_keep_the_marker_unless_they_settle_it()
    {
        var lost = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0))
            .Apply(new RefreshFailed(ErrorClasses.Transient, "connection reset", T0.AddSeconds(1), false, T0, TokenMaybeSpent: true));
        bool MaybeSpent(AccountData d) => d.ToStatus(false, null, 9).RefreshTokenMaybeSpent;

        Assert.True(MaybeSpent(lost.Apply(new AccountBlocked(ErrorClasses.Operator, "blocked by an operator", T0))));
        Assert.True(MaybeSpent(lost.Apply(new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy (usage check)", T0))));
        var policy = Assert.IsType<AccountBlocked>(lost.DecideOutcome(new RefreshOutcome.PolicyRefused("org"), T0, Backoff, interruptedBefore: true));
        Assert.True(MaybeSpent(lost.Apply(policy)));
        var interrupted = Assert.IsType<AccountBlocked>(lost.DecideOutcome(new RefreshOutcome.GrantRejected("invalid_grant", null), T0, Backoff, interruptedBefore: true));
        Assert.False(MaybeSpent(lost.Apply(interrupted)));

        // Without an earlier doubt, the provider's definite answer closes the refresh's own intent.
        var fresh = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0));
        Assert.False(MaybeSpent(fresh.Apply(fresh.DecideOutcome(new RefreshOutcome.PolicyRefused("org"), T0, Backoff, interruptedBefore: false))));
    }

    [Fact]
    public void New_credentials_settle_the_marker_unless_they_bring_back_the_token_in_doubt()
    {
        var lost = Registered().Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0))
            .Apply(new RefreshFailed(ErrorClasses.Transient, "connection reset", T0.AddSeconds(1), false, T0, TokenMaybeSpent: true));
        Assert.False(lost.Apply(new CredentialsReplaced(new Secret("rt-new"), null, null, null, T0)).ToStatus(false, null, 9).RefreshTokenMaybeSpent);
        Assert.True(lost.Apply(new CredentialsReplaced(new Secret("rt-1"), new Secret("at-9"), T0.AddHours(1), null, T0)).ToStatus(false, null, 9).RefreshTokenMaybeSpent);
    }

    // ---- the journal fence: an open intent is waited out until its deadline after recovery ----------------

    private static readonly TimeSpan Window = TimeSpan.FromSeconds(35);

    [Fact]
    public void A_recovered_open_intent_before_its_deadline_means_no_refresh_until_then()
    {
        // The token is past its refresh point and no longer valid enough to be served while waiting.
        var data = Registered(expiresAt: T0.AddSeconds(10)).Apply(new RefreshStarted(new Secret("rt-1").Fingerprint, T0, T0.AddSeconds(35)));
        Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0.AddSeconds(10), Options)); // without the fence

        var fenced = data.WaitOutOpenIntent(T0.AddSeconds(10), Window);
        Assert.Equal(T0.AddSeconds(35), fenced.RetryAt);
        Assert.Equal(AccountState.BackingOff, fenced.State);
        Assert.Equal(TokenDecision.BackOff, fenced.DecideToken(T0.AddSeconds(35) - TimeSpan.FromTicks(1), Options));
        Assert.Equal(TokenDecision.Refresh, fenced.DecideToken(T0.AddSeconds(35), Options));
        // The wait is not a failure: the counters and the interrupted-refresh marker are as recovered.
        Assert.Equal(data.Counters, fenced.Counters);
        Assert.Equal(data.InFlightRefresh, fenced.InFlightRefresh);
    }

    [Fact]
    public void A_still_valid_token_is_served_while_an_open_intent_is_waited_out()
    {
        var data = Registered(expiresAt: T0.AddHours(1)).Apply(new RefreshStarted("fp", T0, T0.AddSeconds(35)));
        var fenced = data.WaitOutOpenIntent(T0.AddSeconds(10), Window);
        Assert.Equal(T0.AddSeconds(35), fenced.RetryAt);
        Assert.Equal(TokenDecision.Serve, fenced.DecideToken(T0.AddSeconds(20), Options));
    }

    [Fact]
    public void A_call_is_sent_under_its_intent_only_while_half_a_request_timeout_is_left_before_the_deadline()
    {
        var requestTimeout = TimeSpan.FromSeconds(30);
        var open = Registered(expiresAt: T0.AddSeconds(10)).Apply(new RefreshStarted("fp", T0, T0.AddSeconds(35)));
        Assert.True(open.LeavesTimeToCall(T0, requestTimeout));
        Assert.True(open.LeavesTimeToCall(T0.AddSeconds(6), requestTimeout)); // a write slower than the 5 s grace: still sent
        Assert.True(open.LeavesTimeToCall(T0.AddSeconds(20), requestTimeout)); // 15 s left
        // Journaling ate more than half the window: a call now would likely be given up before a slow answer.
        Assert.False(open.LeavesTimeToCall(T0.AddSeconds(20) + TimeSpan.FromTicks(1), requestTimeout));
        // An intent without a deadline (written by an older version) sets no limit.
        Assert.True(Registered(expiresAt: T0.AddSeconds(10)).Apply(new RefreshStarted("fp", T0)).LeavesTimeToCall(T0.AddMinutes(1), requestTimeout));
    }

    [Fact]
    public void An_intent_past_its_deadline_or_settled_is_not_waited_on()
    {
        var open = Registered(expiresAt: T0.AddSeconds(10)).Apply(new RefreshStarted("fp", T0, T0.AddSeconds(35)));
        Assert.Same(open, open.WaitOutOpenIntent(T0.AddSeconds(35), Window));
        var settled = open.Apply(new TokensRefreshed(new Secret("at-2"), T0.AddHours(8), new Secret("rt-2"), T0.AddSeconds(1)));
        Assert.Null(settled.OpenIntentDeadline(Window));
        Assert.Same(settled, settled.WaitOutOpenIntent(T0.AddSeconds(2), Window));
        // A journaled backoff that ends later than the deadline is kept as it is.
        var backedOff = open.Apply(new RefreshFailed(ErrorClasses.RateLimited, "429", T0.AddMinutes(10), true, T0.AddSeconds(1), TokenMaybeSpent: true));
        Assert.Equal(T0.AddMinutes(10), backedOff.WaitOutOpenIntent(T0.AddSeconds(2), Window).RetryAt);
        // A shorter journaled backoff after a lost answer is extended to the deadline.
        var lost = open.Apply(new RefreshFailed(ErrorClasses.Transient, "reset", T0.AddSeconds(3), false, T0.AddSeconds(1), TokenMaybeSpent: true));
        Assert.Equal(T0.AddSeconds(35), lost.WaitOutOpenIntent(T0.AddSeconds(2), Window).RetryAt);
        // A blocked account makes no call anyway.
        var blocked = open.Apply(new AccountBlocked(ErrorClasses.Operator, "maintenance", T0.AddSeconds(1)));
        Assert.Same(blocked, blocked.WaitOutOpenIntent(T0.AddSeconds(2), Window));
    }

    [Fact]
    public void An_intent_journaled_without_a_deadline_is_given_the_current_request_window()
    {
        var legacy = Registered(expiresAt: T0.AddSeconds(10)).Apply(new RefreshStarted("fp", T0));
        Assert.Equal(T0 + Window, legacy.OpenIntentDeadline(Window));
        Assert.Equal(T0 + Window, legacy.WaitOutOpenIntent(T0.AddSeconds(10), Window).RetryAt);
        // From a snapshot written before intents recorded their start: nothing to wait on.
        var snapshot = legacy with { InFlightStartedAt = null };
        Assert.Null(snapshot.OpenIntentDeadline(Window));
        Assert.Same(snapshot, snapshot.WaitOutOpenIntent(T0.AddSeconds(10), Window));
    }
}
