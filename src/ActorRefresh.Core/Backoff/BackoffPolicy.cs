namespace ActorRefresh.Core.Backoff;

/// <summary>
/// When to try a refresh again: the provider's <c>Retry-After</c> when it sent one (clamped), otherwise
/// exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS architecture blog):
/// <c>now + max(MinDelay, U · min(Cap, Base · 2^(attempt−1)))</c> with U uniform in [0, 1).
/// Pure and deterministic when a random source is injected.
/// </summary>
public sealed class BackoffPolicy
{
    private readonly BackoffOptions _options;
    private readonly Func<double> _random;

    /// <summary>Creates a policy.</summary>
    /// <param name="options">The settings (validated elsewhere; copied so later changes do not leak in).</param>
    /// <param name="random">Uniform source in [0, 1); defaults to <see cref="Random.Shared"/>.</param>
    public BackoffPolicy(BackoffOptions options, Func<double>? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = new BackoffOptions
        {
            Base = options.Base,
            Cap = options.Cap,
            MinDelay = options.MinDelay,
            RetryAfterMin = options.RetryAfterMin,
            RetryAfterMax = options.RetryAfterMax,
            RejectedDelay = options.RejectedDelay,
        };
        _random = random ?? Random.Shared.NextDouble;
        Limits = new RetryAfterLimits { Min = _options.RetryAfterMin, Max = _options.RetryAfterMax };
    }

    /// <summary>The <c>Retry-After</c> bounds derived from <see cref="BackoffOptions.RetryAfterMin"/> and <see cref="BackoffOptions.RetryAfterMax"/>.</summary>
    public RetryAfterLimits Limits { get; }

    /// <summary>Wait after a "configuration error" answer (<see cref="BackoffOptions.RejectedDelay"/>).</summary>
    public TimeSpan RejectedDelay => _options.RejectedDelay;

    /// <summary>The time of the next attempt.</summary>
    /// <param name="attempt">1 for the first retry after one failure, 2 after two failures, and so on.</param>
    /// <param name="now">The current time.</param>
    /// <param name="retryAfter">The provider's Retry-After, if any; it wins over the exponential delay,
    /// clamped to <c>[now + RetryAfterMin, now + RetryAfterMax]</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="attempt"/> is below 1.</exception>
    public DateTimeOffset NextAttemptAt(int attempt, DateTimeOffset now, DateTimeOffset? retryAfter = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        if (retryAfter is { } at)
            return Limits.Clamp(at, now);
        return RetryAfterLimits.SafeAdd(now, Delay(attempt));
    }

    /// <summary>The time of the next attempt after a "configuration error" answer.</summary>
    public DateTimeOffset RejectedAttemptAt(DateTimeOffset now) => RetryAfterLimits.SafeAdd(now, _options.RejectedDelay);

    /// <summary>The jittered delay for <paramref name="attempt"/>.</summary>
    internal TimeSpan Delay(int attempt)
    {
        var ceiling = (double)Ceiling(attempt).Ticks;
        var u = _random();
        // A misbehaving injected source must not push the delay outside [MinDelay, Cap].
        if (double.IsNaN(u) || u < 0) u = 0;
        else if (u >= 1) u = Math.BitDecrement(1.0);
        var ticks = (long)(u * ceiling);
        return TimeSpan.FromTicks(Math.Max(_options.MinDelay.Ticks, ticks));
    }

    /// <summary><c>min(Cap, Base · 2^(attempt−1))</c>, computed without overflow for any attempt.</summary>
    internal TimeSpan Ceiling(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var cap = _options.Cap.Ticks;
        var exponent = attempt - 1;
        // Beyond 2^62 the product overflows long; the cap is reached long before for any sane Base.
        if (exponent >= 62) return _options.Cap;
        var factor = 1L << exponent;
        var baseTicks = _options.Base.Ticks;
        if (baseTicks > cap / factor) return _options.Cap;
        return TimeSpan.FromTicks(Math.Min(cap, baseTicks * factor));
    }
}
