using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting.Notifications;

namespace ActorRefresh.Hosting.Tests;

/// <summary>The pure rules that turn two successive statuses into notices.</summary>
public sealed class AccountNoticeRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LongBackoff = TimeSpan.FromMinutes(15);

    private static AccountStatus Status(AccountState state, DateTimeOffset? retryAt = null, bool maybeSpent = false, double? utilisation = null) =>
        new("n1", "claude", state, Now.AddHours(1), null, retryAt, state == AccountState.Valid ? null : "invalid_grant",
            state == AccountState.Valid ? null : "dead grant: log in again", maybeSpent, new AccountCounters(0, 0, 0), 1,
            utilisation is { } u ? new AccountUsage(u, Now.AddHours(2), null, null, Now, null, null, "observed") : null);

    private static List<string> Kinds(AccountStatus? previous, AccountStatus current, bool troubled = false) =>
        AccountNoticeRules.Between(previous, current, troubled, LongBackoff, 90, Now).Select(n => n.Kind).ToList();

    [Fact]
    public void The_first_status_a_node_sees_raises_nothing() =>
        Assert.Empty(Kinds(null, Status(AccountState.PolicyBlocked, maybeSpent: true)));

    [Fact]
    public void Blocking_raises_blocked_with_the_reason_once()
    {
        var notices = AccountNoticeRules.Between(Status(AccountState.Valid), Status(AccountState.PolicyBlocked), false, LongBackoff, 90, Now);
        var notice = Assert.Single(notices);
        Assert.Equal(AccountNoticeKinds.Blocked, notice.Kind);
        Assert.Equal("dead grant: log in again", notice.Reason);
        Assert.Empty(Kinds(Status(AccountState.PolicyBlocked), Status(AccountState.PolicyBlocked)));
    }

    [Fact]
    public void A_journaled_grant_warning_raises_grant_expiring_once()
    {
        var end = Now.AddDays(6);
        var before = Status(AccountState.Valid) with { GrantExpiresAt = end, GrantNoticeDays = 30 };
        var warned = before with { GrantNoticeDays = 7 };
        var notice = Assert.Single(AccountNoticeRules.Between(before, warned, false, LongBackoff, 90, Now));
        Assert.Equal(AccountNoticeKinds.GrantExpiring, notice.Kind);
        Assert.Equal(end, notice.Until);
        Assert.Contains("7 day(s)", notice.Reason, StringComparison.Ordinal);
        // Republished (a refresh, a usage check): nothing new.
        Assert.Empty(Kinds(warned, warned with { Version = 9 }));
        Assert.Empty(Kinds(Status(AccountState.Valid) with { GrantExpiresAt = end }, Status(AccountState.Valid) with { GrantExpiresAt = end }));
    }

    [Fact]
    public void A_refresh_token_that_may_be_spent_raises_refresh_interrupted() =>
        Assert.Equal([AccountNoticeKinds.RefreshInterrupted], Kinds(Status(AccountState.Refreshing), Status(AccountState.BackingOff, Now.AddSeconds(5), maybeSpent: true)));

    [Fact]
    public void Only_a_long_backoff_is_raised_and_a_republished_one_is_not_raised_again()
    {
        Assert.Empty(Kinds(Status(AccountState.Valid), Status(AccountState.BackingOff, Now.AddMinutes(1))));
        var retryAt = Now.AddMinutes(30);
        Assert.Equal([AccountNoticeKinds.BackingOff], Kinds(Status(AccountState.Valid), Status(AccountState.BackingOff, retryAt)));
        Assert.Empty(Kinds(Status(AccountState.BackingOff, retryAt), Status(AccountState.BackingOff, retryAt)));
    }

    [Fact]
    public void Crossing_the_utilisation_threshold_upwards_is_raised()
    {
        Assert.Equal([AccountNoticeKinds.QuotaThreshold], Kinds(Status(AccountState.Valid, utilisation: 80), Status(AccountState.Valid, utilisation: 95)));
        Assert.Empty(Kinds(Status(AccountState.Valid, utilisation: 95), Status(AccountState.Valid, utilisation: 97)));
        Assert.Empty(Kinds(Status(AccountState.Valid, utilisation: 95), Status(AccountState.Valid, utilisation: 20)));
    }

    [Fact]
    public void Healthy_again_is_raised_only_after_trouble_was_noticed()
    {
        Assert.Empty(Kinds(Status(AccountState.BackingOff, Now.AddSeconds(2)), Status(AccountState.Valid), troubled: false));
        Assert.Equal([AccountNoticeKinds.Healthy], Kinds(Status(AccountState.PolicyBlocked), Status(AccountState.Valid), troubled: true));
        Assert.Empty(Kinds(Status(AccountState.Valid), Status(AccountState.Valid), troubled: true));
    }
}
