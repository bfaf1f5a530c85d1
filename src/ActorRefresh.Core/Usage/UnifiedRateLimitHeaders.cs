using System.Globalization;
using ActorRefresh.Core.Backoff;

namespace ActorRefresh.Core.Usage;

/// <summary>Quota learnt passively from one API response (no usage call).</summary>
/// <param name="FiveHour">The five-hour window, when the headers described it.</param>
/// <param name="SevenDay">The seven-day window, when the headers described it.</param>
/// <param name="Rejected">True when the API refused the request for quota (HTTP 429, or unified status <c>rejected</c>).</param>
/// <param name="RetryAt">When the API said to come back (clamped Retry-After, else the unified reset), if it said so.</param>
public sealed record PassiveUsage(UsageWindow? FiveHour, UsageWindow? SevenDay, bool Rejected, DateTimeOffset? RetryAt)
{
    /// <summary>True when the headers carried nothing usable.</summary>
    public bool IsEmpty => FiveHour is null && SevenDay is null && !Rejected;
}

/// <summary>
/// Reads the <c>anthropic-ratelimit-unified-*</c> headers (and <c>Retry-After</c>) of an API response.
/// Tolerant: unknown, missing or malformed headers are ignored; header names are case-insensitive.
/// </summary>
/// <remarks>
/// Mapping (<c>W</c> is <c>5h</c> or <c>7d</c>):
/// <list type="bullet">
/// <item><c>…-W-utilization</c>: the window's utilisation; a value up to 1 is a fraction (×100), above 1 a percentage.</item>
/// <item><c>…-W-remaining</c>: used only without a utilisation: utilisation = 100 − remaining (same fraction rule).</item>
/// <item><c>…-W-reset</c>: the window's reset, epoch seconds or an ISO-8601 time.</item>
/// <item><c>…-W-status: rejected</c>: the window is exhausted (utilisation 100).</item>
/// <item><c>…-representative-claim</c> (<c>five_hour</c>/<c>seven_day</c>) with <c>…-utilization</c>, <c>…-remaining</c>
/// and <c>…-reset</c> without a window part: applied to the claimed window when it has no own header.</item>
/// <item><c>…-status: rejected</c> or HTTP 429: <see cref="PassiveUsage.Rejected"/>; the retry time is the clamped
/// <c>Retry-After</c> / <c>Retry-After-Ms</c>, else <c>…-reset</c>, else the latest reset of an exhausted window.</item>
/// </list>
/// </remarks>
public static class UnifiedRateLimitHeaders
{
    /// <summary>Prefix of the headers read here.</summary>
    public const string Prefix = "anthropic-ratelimit-unified-";

    /// <summary>Parses the headers of one API response.</summary>
    /// <param name="statusCode">The response's HTTP status (429 means the request was refused for quota).</param>
    /// <param name="headers">The response headers (name, value); repeated names keep the first value.</param>
    /// <param name="now">The current time (base of delta-seconds).</param>
    /// <param name="limits">Bounds for Retry-After.</param>
    public static PassiveUsage Parse(int statusCode, IEnumerable<KeyValuePair<string, string>> headers, DateTimeOffset now, RetryAfterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(limits);
        var h = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in headers)
        {
            if (name is not null && value is not null) h.TryAdd(name.Trim(), value.Trim());
        }
        string? Get(string suffix) => h.TryGetValue(Prefix + suffix, out var v) ? v : null;

        var claim = Get("representative-claim") switch
        {
            { } c when c.Equals("five_hour", StringComparison.OrdinalIgnoreCase) => "5h",
            { } c when c.Equals("seven_day", StringComparison.OrdinalIgnoreCase) => "7d",
            _ => null,
        };

        UsageWindow? Window(string w)
        {
            var own = w == claim;
            var utilization = Percent(Get($"{w}-utilization")) ?? (own ? Percent(Get("utilization")) : null);
            var remaining = Percent(Get($"{w}-remaining")) ?? (own ? Percent(Get("remaining")) : null);
            var reset = Time(Get($"{w}-reset"), now) ?? (own ? Time(Get("reset"), now) : null);
            var rejected = IsRejected(Get($"{w}-status"));
            double? used = rejected ? 100 : utilization ?? (remaining is { } r ? 100 - r : null);
            return used is { } u ? new UsageWindow(Math.Clamp(u, 0, 100), reset) : null;
        }

        var fiveHour = Window("5h");
        var sevenDay = Window("7d");
        var rejectedOverall = statusCode == 429 || IsRejected(Get("status"));
        DateTimeOffset? retryAt = null;
        if (rejectedOverall)
        {
            retryAt = RetryAfter.FromValues(Get2(h, RetryAfter.MillisecondsHeaderName), Get2(h, RetryAfter.HeaderName), now, limits);
            if (retryAt is null && Time(Get("reset"), now) is { } reset && reset > now)
                retryAt = limits.Clamp(reset, now);
            if (retryAt is null)
            {
                var exhausted = new[] { fiveHour, sevenDay }.Where(x => x is { Utilization: >= 100, ResetsAt: { } r } && r > now).Select(x => x!.ResetsAt!.Value).ToList();
                if (exhausted.Count > 0) retryAt = limits.Clamp(exhausted.Max(), now);
            }
        }
        return new PassiveUsage(fiveHour, sevenDay, rejectedOverall, retryAt);
    }

    private static string? Get2(Dictionary<string, string> h, string name) => h.TryGetValue(name, out var v) ? v : null;

    private static bool IsRejected(string? status) => status is not null && status.Equals("rejected", StringComparison.OrdinalIgnoreCase);

    private static double? Percent(string? value)
    {
        if (value is null || !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || double.IsNaN(d) || double.IsInfinity(d))
            return null;
        return d <= 1 ? d * 100 : d;
    }

    private static DateTimeOffset? Time(string? value, DateTimeOffset now)
    {
        if (value is null) return null;
        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var epoch))
        {
            // Epoch seconds; a 13-digit value is milliseconds.
            try
            {
                return epoch > 100_000_000_000 ? DateTimeOffset.FromUnixTimeMilliseconds(epoch) : DateTimeOffset.FromUnixTimeSeconds(epoch);
            }
            catch (ArgumentOutOfRangeException)
            {
                return null;
            }
        }
        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;
    }
}
