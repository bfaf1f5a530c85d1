using ActorRefresh.Core.Backoff;
using FsCheck;
using FsCheck.Xunit;

namespace ActorRefresh.Core.Tests.Backoff;

public sealed class BackoffPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly BackoffOptions Defaults = new();

    private static double Unit(int x) => (x & int.MaxValue) % 1_000_000 / 1_000_000.0;

    [Fact]
    public void Defaults_match_the_documented_values()
    {
        Assert.Equal(TimeSpan.FromSeconds(1), Defaults.Base);
        Assert.Equal(TimeSpan.FromMinutes(5), Defaults.Cap);
        Assert.Equal(TimeSpan.FromMilliseconds(500), Defaults.MinDelay);
        Assert.Equal(TimeSpan.FromSeconds(1), Defaults.RetryAfterMin);
        Assert.Equal(TimeSpan.FromDays(1), Defaults.RetryAfterMax);
        Assert.Equal(TimeSpan.FromHours(1), Defaults.RejectedDelay);
        Assert.Empty(Defaults.Validate());
    }

    [Fact]
    public void Full_jitter_scales_the_exponential_ceiling()
    {
        var policy = new BackoffPolicy(Defaults, () => 0.5);
        Assert.Equal(Now.AddMilliseconds(500), policy.NextAttemptAt(1, Now)); // 0.5 · 1 s, equal to the floor
        Assert.Equal(Now.AddSeconds(2), policy.NextAttemptAt(3, Now)); // 0.5 · 4 s
        Assert.Equal(Now.AddSeconds(150), policy.NextAttemptAt(30, Now)); // 0.5 · cap
    }

    [Fact]
    public void A_draw_of_zero_still_waits_the_floor()
    {
        var policy = new BackoffPolicy(Defaults, () => 0.0);
        Assert.Equal(Now.AddMilliseconds(500), policy.NextAttemptAt(12, Now));
    }

    [Fact]
    public void Retry_after_wins_and_is_clamped()
    {
        var policy = new BackoffPolicy(Defaults, () => 0.99);
        Assert.Equal(Now.AddSeconds(42), policy.NextAttemptAt(1, Now, Now.AddSeconds(42)));
        Assert.Equal(Now.AddSeconds(1), policy.NextAttemptAt(5, Now, Now.AddDays(-1)));
        Assert.Equal(Now.AddDays(1), policy.NextAttemptAt(5, Now, DateTimeOffset.MaxValue));
        Assert.Equal(new RetryAfterLimits { Min = TimeSpan.FromSeconds(1), Max = TimeSpan.FromDays(1) }, policy.Limits);
    }

    [Fact]
    public void A_retry_after_longer_than_an_hour_is_honoured_up_to_a_day()
    {
        // Found by review: the provider's wait was lowered to RetryAfterMax (1 h), so the engine called before it allowed.
        var policy = new BackoffPolicy(Defaults, () => 0.99);
        Assert.Equal(Now.AddHours(3), policy.NextAttemptAt(1, Now, Now.AddHours(3)));
        Assert.Equal(Now.AddHours(23), policy.NextAttemptAt(1, Now, Now.AddHours(23)));
        Assert.Equal(Now.AddDays(1), policy.NextAttemptAt(1, Now, Now.AddDays(3)));
    }

    [Fact]
    public void Retry_after_max_above_the_hard_cap_is_refused_naming_the_key()
    {
        var errors = new BackoffOptions { RetryAfterMax = TimeSpan.FromDays(2) }.Validate();
        Assert.Contains("ActorRefresh:Backoff:RetryAfterMax must not exceed 1.00:00:00 (the hard cap of a day).", errors);
        // Limits built by hand cannot exceed it either.
        Assert.Equal(Now.AddDays(1), new RetryAfterLimits { Max = TimeSpan.FromDays(30) }.Clamp(Now.AddDays(10), Now));
    }

    [Fact]
    public void Rejected_answers_wait_the_rejected_delay()
    {
        var policy = new BackoffPolicy(new BackoffOptions { RejectedDelay = TimeSpan.FromMinutes(90) });
        Assert.Equal(Now.AddMinutes(90), policy.RejectedAttemptAt(Now));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Attempts_start_at_one(int attempt)
    {
        var policy = new BackoffPolicy(Defaults);
        Assert.Throws<ArgumentOutOfRangeException>(() => policy.NextAttemptAt(attempt, Now));
    }

    [Fact]
    public void Huge_attempts_and_late_clocks_do_not_overflow()
    {
        var policy = new BackoffPolicy(Defaults, () => 0.999999);
        Assert.True(policy.NextAttemptAt(int.MaxValue, Now) <= Now + Defaults.Cap);
        Assert.Equal(DateTimeOffset.MaxValue, policy.NextAttemptAt(int.MaxValue, DateTimeOffset.MaxValue.AddSeconds(-1)));
        var huge = new BackoffPolicy(new BackoffOptions { Base = TimeSpan.FromDays(10_000), Cap = TimeSpan.MaxValue }, () => 0.999999);
        Assert.True(huge.NextAttemptAt(63, Now) > Now);
    }

    [Fact]
    public void An_out_of_range_random_source_cannot_break_the_bounds()
    {
        Assert.Equal(Now.AddMilliseconds(500), new BackoffPolicy(Defaults, () => -3).NextAttemptAt(4, Now));
        Assert.Equal(Now.AddMilliseconds(500), new BackoffPolicy(Defaults, () => double.NaN).NextAttemptAt(4, Now));
        Assert.True(new BackoffPolicy(Defaults, () => 7).NextAttemptAt(4, Now) < Now.AddSeconds(8));
    }

    [Fact]
    public void A_thousand_draws_cover_the_jitter_interval()
    {
        var random = new Random(20260101);
        var policy = new BackoffPolicy(Defaults, random.NextDouble);
        const int attempt = 5; // ceiling 16 s
        var buckets = new int[16];
        for (var i = 0; i < 1000; i++)
        {
            var delay = policy.NextAttemptAt(attempt, Now) - Now;
            Assert.InRange(delay, Defaults.MinDelay, TimeSpan.FromSeconds(16));
            buckets[Math.Min(15, (int)delay.TotalSeconds)]++;
        }
        // Uniform over 16 one-second buckets: about 62 each; none should be nearly empty.
        Assert.All(buckets, count => Assert.InRange(count, 25, 120));
    }

    [Property(MaxTest = 1000)]
    public bool Delays_stay_between_the_floor_and_the_exponential_ceiling(PositiveInt attempt, int draw)
    {
        var policy = new BackoffPolicy(Defaults, () => Unit(draw));
        var delay = policy.NextAttemptAt(attempt.Get, Now) - Now;
        var exponent = Math.Min(attempt.Get - 1, 20); // 2^20 s is far past the cap; keeps the test's own shift from overflowing
        var ceiling = TimeSpan.FromTicks(Math.Min(Defaults.Cap.Ticks, Defaults.Base.Ticks << exponent));
        return delay >= Defaults.MinDelay && delay <= Defaults.Cap && (delay <= ceiling || delay == Defaults.MinDelay);
    }

    [Property(MaxTest = 500)]
    public bool The_ceiling_is_monotone_and_capped(PositiveInt attempt, PositiveInt baseMs, PositiveInt capSeconds)
    {
        var options = new BackoffOptions
        {
            Base = TimeSpan.FromMilliseconds(baseMs.Get % 10_000 + 1),
            Cap = TimeSpan.FromSeconds(capSeconds.Get % 100_000 + 10),
            MinDelay = TimeSpan.Zero,
        };
        var policy = new BackoffPolicy(options);
        var a = attempt.Get == int.MaxValue ? attempt.Get - 1 : attempt.Get;
        return policy.Ceiling(a) <= policy.Ceiling(a + 1) && policy.Ceiling(a + 1) <= options.Cap;
    }

    [Property(MaxTest = 200)]
    public bool The_same_draws_give_the_same_schedule(int seed)
    {
        var first = new Random(seed);
        var second = new Random(seed);
        var a = new BackoffPolicy(Defaults, first.NextDouble);
        var b = new BackoffPolicy(Defaults, second.NextDouble);
        return Enumerable.Range(1, 20).All(attempt => a.NextAttemptAt(attempt, Now) == b.NextAttemptAt(attempt, Now));
    }

    [Property(MaxTest = 500)]
    public bool Retry_after_results_are_within_the_configured_limits(long offsetSeconds, PositiveInt attempt)
    {
        var policy = new BackoffPolicy(Defaults);
        var asked = Now.AddSeconds(offsetSeconds % 10_000_000);
        var at = policy.NextAttemptAt(attempt.Get, Now, asked);
        return at >= Now + Defaults.RetryAfterMin && at <= Now + Defaults.RetryAfterMax;
    }

    [Fact]
    public void Validation_names_the_offending_keys()
    {
        var options = new BackoffOptions
        {
            Base = TimeSpan.Zero,
            Cap = TimeSpan.FromSeconds(1),
            MinDelay = TimeSpan.FromSeconds(2),
            RetryAfterMin = TimeSpan.FromHours(2),
            RetryAfterMax = TimeSpan.FromHours(1),
            RejectedDelay = TimeSpan.Zero,
        };

        var errors = options.Validate();

        Assert.Contains("ActorRefresh:Backoff:Base must be greater than zero.", errors);
        Assert.Contains("ActorRefresh:Backoff:MinDelay must not exceed ActorRefresh:Backoff:Cap.", errors);
        Assert.Contains("ActorRefresh:Backoff:RetryAfterMax must not be less than ActorRefresh:Backoff:RetryAfterMin.", errors);
        Assert.Contains("ActorRefresh:Backoff:RejectedDelay must be greater than zero.", errors);
        Assert.Contains("ActorRefresh:Backoff:Cap must not be less than ActorRefresh:Backoff:Base.", new BackoffOptions { Base = TimeSpan.FromMinutes(10) }.Validate());
    }
}
