namespace ActorRefresh.Core.Backoff;

/// <summary>
/// Bounds applied to a provider's <c>Retry-After</c> / <c>Retry-After-Ms</c> answer, so a broken or hostile
/// server can neither make us hammer it nor park an account for years.
/// </summary>
/// <remarks>
/// Clamping rules (see <see cref="Clamp"/>): a time in the past, now, or a negative/zero delay becomes
/// <c>now + Min</c>; anything earlier than <c>now + Min</c> becomes <c>now + Min</c>; anything later than
/// <c>now + Max</c> (including overflowing values) becomes <c>now + Max</c>. <see cref="Max"/> never exceeds
/// <see cref="HardCap"/>; when it is below <see cref="Min"/>, <see cref="Min"/> wins.
/// </remarks>
public sealed record RetryAfterLimits
{
    /// <summary>
    /// The longest wait ever honoured: a day. A provider's <c>Retry-After</c> is obeyed as given up to it (calling earlier
    /// would fight the rate limit); beyond it the value is taken for a broken server, not a real limit.
    /// </summary>
    public static readonly TimeSpan HardCap = TimeSpan.FromDays(1);

    /// <summary>Limits with the defaults: 1 second to a day.</summary>
    public static RetryAfterLimits Default { get; } = new();

    /// <summary>Shortest wait honoured; earlier, past or zero values are raised to this. Default 1 second.</summary>
    public TimeSpan Min { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait honoured; later values are lowered to this. Default (and at most) <see cref="HardCap"/>, a day.</summary>
    public TimeSpan Max { get; init; } = HardCap;

    /// <summary>Clamps an absolute retry time into <c>[now + Min, now + Max]</c>.</summary>
    /// <param name="retryAt">The time the provider asked for (may be in the past or absurdly far).</param>
    /// <param name="now">The current time.</param>
    /// <returns>The retry time actually used.</returns>
    public DateTimeOffset Clamp(DateTimeOffset retryAt, DateTimeOffset now)
    {
        var min = Min < TimeSpan.Zero ? TimeSpan.Zero : Min;
        var max = Max > HardCap ? HardCap : Max;
        if (max < min) max = min;
        var lower = SafeAdd(now, min);
        var upper = SafeAdd(now, max);
        if (retryAt < lower) return lower;
        if (retryAt > upper) return upper;
        return retryAt;
    }

    /// <summary>Adds without throwing at the ends of the calendar.</summary>
    internal static DateTimeOffset SafeAdd(DateTimeOffset now, TimeSpan delta)
    {
        // DateTimeOffset.Add throws on overflow; saturating keeps every caller total.
        var room = DateTimeOffset.MaxValue.UtcTicks - now.UtcTicks;
        if (delta.Ticks >= room) return DateTimeOffset.MaxValue;
        var floor = DateTimeOffset.MinValue.UtcTicks - now.UtcTicks;
        if (delta.Ticks <= floor) return DateTimeOffset.MinValue;
        return now.Add(delta);
    }
}
