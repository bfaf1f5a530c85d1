using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Cli;

namespace ActorRefresh.Host.Tests;

/// <summary>The words an operator reads for a blocked account and for the engine's next step.</summary>
public sealed class AccountGuidanceTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 12, 30, 0, TimeSpan.Zero);

    private static AccountStatus Status(AccountState state, string? errorClass = null, string? error = null, bool maybeSpent = false) =>
        new("g1", "claude", state, At, At, At, errorClass, error, maybeSpent, new AccountCounters(0, 0, 0), 1);

    [Theory]
    [InlineData("grant_rejected", "log in again")]
    [InlineData("interrupted_refresh", "log in again")]
    [InlineData("policy_refused", "ask the organisation's admin")]
    [InlineData("operator", "blocked by an operator (maintenance)")]
    [InlineData("rejected", "check the provider settings")]
    public void A_blocked_account_says_what_to_do_for_its_cause(string errorClass, string advice)
    {
        var status = Status(AccountState.PolicyBlocked, errorClass, "maintenance");
        Assert.Contains(advice, AccountGuidance.Advice(status), StringComparison.Ordinal);
        Assert.Equal("nothing until an operator acts", AccountGuidance.NextStep(status));
    }

    [Fact]
    public void The_next_step_names_its_time_and_a_healthy_account_needs_nothing()
    {
        Assert.Equal("refresh at 2026-12-01 12:30:00Z", AccountGuidance.NextStep(Status(AccountState.Valid)));
        Assert.Equal("retry at 2026-12-01 12:30:00Z", AccountGuidance.NextStep(Status(AccountState.BackingOff, "rate_limited")));
        Assert.Null(AccountGuidance.Advice(Status(AccountState.Valid)));
        Assert.Contains("log in again", AccountGuidance.Advice(Status(AccountState.BackingOff, "transient", maybeSpent: true)), StringComparison.Ordinal);
    }
}
