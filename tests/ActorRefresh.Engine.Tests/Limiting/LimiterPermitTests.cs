using ActorRefresh.Engine.Limiting;

namespace ActorRefresh.Engine.Tests.Limiting;

/// <summary>A <see cref="LimiterPermit"/> releases its lease exactly once, whether its owner lets go before or after the grant.</summary>
public sealed class LimiterPermitTests
{
    private static RefreshLimiter OnePermit() => new(maxConcurrent: 1, perSecond: 1_000_000, queueLimit: 1000);

    [Fact]
    public async Task A_granted_permit_is_held_until_disposed_and_disposing_twice_releases_once()
    {
        await using var limiter = OnePermit();
        var permit = LimiterPermit.Request(limiter, "p");
        Assert.True(await permit.Granted);
        Assert.Equal((0L, 0L), limiter.Permits("p"));
        permit.Dispose();
        permit.Dispose();
        Assert.Equal((1L, 0L), limiter.Permits("p"));
    }

    [Fact]
    public async Task A_queued_permit_let_go_is_cancelled_and_never_granted()
    {
        await using var limiter = OnePermit();
        var first = LimiterPermit.Request(limiter, "p");
        Assert.True(await first.Granted);
        var queued = LimiterPermit.Request(limiter, "p");
        Assert.Equal((0L, 1L), limiter.Permits("p"));

        queued.Dispose();
        Assert.False(await queued.Granted.WaitAsync(TimeSpan.FromSeconds(10)));
        first.Dispose();
        Assert.Equal((1L, 0L), limiter.Permits("p"));
    }

    [Fact]
    public async Task Letting_go_while_the_grant_races_in_never_loses_or_doubles_a_permit()
    {
        await using var limiter = OnePermit();
        for (var i = 0; i < 2000; i++)
        {
            var holder = LimiterPermit.Request(limiter, "p");
            Assert.True(await holder.Granted);
            var waiter = LimiterPermit.Request(limiter, "p");
            // The grant (on the thread releasing the holder) and the owner letting go (here) race.
            var release = Task.Run(holder.Dispose);
            if (i % 2 == 0) await Task.Yield();
            waiter.Dispose();
            await release;
            await waiter.Granted.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal((1L, 0L), limiter.Permits("p"));
        }
    }

    [Fact]
    public async Task A_full_queue_is_not_granted_and_takes_nothing()
    {
        await using var limiter = new RefreshLimiter(maxConcurrent: 1, perSecond: 1_000_000, queueLimit: 0);
        using var holder = LimiterPermit.Request(limiter, "p");
        Assert.True(await holder.Granted);
        using var refused = LimiterPermit.Request(limiter, "p");
        Assert.False(await refused.Granted);
        holder.Dispose();
        Assert.Equal((1L, 0L), limiter.Permits("p"));
    }
}

/// <summary>The usage-check limiter's settings are validated like the refresh limiter's, each error naming its key.</summary>
public sealed class UsageLimiterOptionsTests
{
    [Fact]
    public void Bad_usage_limiter_settings_name_their_keys()
    {
        var errors = new EngineOptions { MaxConcurrentUsageChecks = 0, MaxUsageChecksPerSecond = 0, UsageCheckQueueLimit = -1 }.Validate();
        Assert.Contains("ActorRefresh:Engine:MaxConcurrentUsageChecks must be at least 1.", errors);
        Assert.Contains("ActorRefresh:Engine:MaxUsageChecksPerSecond must be at least 1.", errors);
        Assert.Contains("ActorRefresh:Engine:UsageCheckQueueLimit must not be negative.", errors);
        Assert.Empty(new EngineOptions().Validate());
    }

    [Fact]
    public async Task Usage_checks_and_refreshes_have_separate_permits()
    {
        var options = new EngineOptions { MaxConcurrentRefreshes = 1, MaxConcurrentUsageChecks = 1 };
        await using var refreshes = new RefreshLimiter(options);
        await using var usage = RefreshLimiter.ForUsageChecks(options);
        using var check = LimiterPermit.Request(usage, "claude");
        Assert.True(await check.Granted);
        using var refresh = LimiterPermit.Request(refreshes, "claude");
        Assert.True(await refresh.Granted.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
