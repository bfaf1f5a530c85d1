namespace ActorRefresh.Core.Backoff;

/// <summary>
/// Backoff settings of refresh attempts, bound from configuration section <c>ActorRefresh:Backoff</c>
/// (<see cref="SectionName"/>). Durations use the <c>TimeSpan</c> format, e.g. <c>00:05:00</c>.
/// </summary>
public sealed class BackoffOptions
{
    /// <summary>Configuration section the options are bound from.</summary>
    public const string SectionName = "ActorRefresh:Backoff";

    /// <summary>Ceiling of the first retry delay; it doubles per attempt. Default 1 second.</summary>
    public TimeSpan Base { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest ceiling of the exponential delay. Default 5 minutes.</summary>
    public TimeSpan Cap { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Floor of every jittered delay, so full jitter never retries immediately. Default 500 ms.</summary>
    public TimeSpan MinDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Shortest <c>Retry-After</c> honoured (earlier and past values are raised to it). Default 1 second.</summary>
    public TimeSpan RetryAfterMin { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Longest <c>Retry-After</c> honoured (later values are lowered to it). Default and maximum: a day
    /// (<see cref="RetryAfterLimits.HardCap"/>). A provider's wait below it is obeyed as given; a lower setting makes the
    /// engine call before the provider allows.
    /// </summary>
    public TimeSpan RetryAfterMax { get; set; } = RetryAfterLimits.HardCap;

    /// <summary>Wait after a "configuration error" answer (an unexpected 4xx). Default 1 hour.</summary>
    public TimeSpan RejectedDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Returns the problems with these settings, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        const string p = SectionName;
        var errors = new List<string>();
        if (Base <= TimeSpan.Zero)
            errors.Add($"{p}:Base must be greater than zero.");
        if (Cap <= TimeSpan.Zero)
            errors.Add($"{p}:Cap must be greater than zero.");
        else if (Cap < Base)
            errors.Add($"{p}:Cap must not be less than {p}:Base.");
        if (MinDelay < TimeSpan.Zero)
            errors.Add($"{p}:MinDelay must not be negative.");
        else if (MinDelay > Cap && Cap > TimeSpan.Zero)
            errors.Add($"{p}:MinDelay must not exceed {p}:Cap.");
        if (RetryAfterMin < TimeSpan.Zero)
            errors.Add($"{p}:RetryAfterMin must not be negative.");
        if (RetryAfterMax <= TimeSpan.Zero)
            errors.Add($"{p}:RetryAfterMax must be greater than zero.");
        else if (RetryAfterMax < RetryAfterMin)
            errors.Add($"{p}:RetryAfterMax must not be less than {p}:RetryAfterMin.");
        else if (RetryAfterMax > RetryAfterLimits.HardCap)
            errors.Add($"{p}:RetryAfterMax must not exceed {RetryAfterLimits.HardCap:c} (the hard cap of a day).");
        if (RejectedDelay <= TimeSpan.Zero)
            errors.Add($"{p}:RejectedDelay must be greater than zero.");
        return errors;
    }
}
