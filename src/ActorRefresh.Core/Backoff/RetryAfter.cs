namespace ActorRefresh.Core.Backoff;

/// <summary>
/// Parses <c>Retry-After</c> (RFC 9110 section 10.2.3) and the non-standard <c>Retry-After-Ms</c>.
/// Culture-independent and allocation-free: the value is read from a span by hand (no regex, no
/// <c>DateTime.Parse</c>, whose culture and leniency differ between platforms).
/// </summary>
public static class RetryAfter
{
    /// <summary>Header name of the standard field.</summary>
    public const string HeaderName = "Retry-After";

    /// <summary>Header name of the millisecond variant some servers send; it wins over <see cref="HeaderName"/> when valid.</summary>
    public const string MillisecondsHeaderName = "Retry-After-Ms";

    private static readonly string[] Months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

    private static readonly string[] DayNames =
    [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    ];

    /// <summary>
    /// Parses a <c>Retry-After</c> value: delta-seconds (<c>120</c>) or an HTTP-date in any of the three
    /// RFC 9110 forms: IMF-fixdate (<c>Sun, 06 Nov 1994 08:49:37 GMT</c>), obsolete RFC 850
    /// (<c>Sunday, 06-Nov-94 08:49:37 GMT</c>) and asctime (<c>Sun Nov  6 08:49:37 1994</c>).
    /// </summary>
    /// <param name="value">The header value; surrounding white space is ignored.</param>
    /// <param name="now">The current time, the base of delta-seconds and of two-digit years.</param>
    /// <param name="retryAt">The absolute time asked for, <b>not clamped</b> (it may lie in the past, and
    /// a negative delay is accepted); apply <see cref="RetryAfterLimits.Clamp"/> before use.
    /// Values beyond the calendar saturate at <see cref="DateTimeOffset.MaxValue"/>.</param>
    /// <returns>False for anything that is neither a number nor an HTTP-date; never throws.</returns>
    public static bool TryParse(ReadOnlySpan<char> value, DateTimeOffset now, out DateTimeOffset retryAt)
    {
        value = value.Trim();
        retryAt = default;
        if (value.IsEmpty) return false;
        var first = value[0];
        if (char.IsAsciiDigit(first) || first == '-' || first == '+')
            return TryParseDelay(value, now, TimeSpan.TicksPerSecond, out retryAt);
        return TryParseHttpDate(value, now, out retryAt);
    }

    /// <summary>
    /// Reads the retry time a response asks for. <c>Retry-After-Ms</c> (milliseconds, fractions allowed)
    /// takes precedence when it is valid; otherwise <c>Retry-After</c> is used.
    /// </summary>
    /// <param name="response">The HTTP response.</param>
    /// <param name="now">The current time.</param>
    /// <param name="limits">Bounds: past, zero or negative values become <c>now + Min</c>, values beyond
    /// <c>now + Max</c> become <c>now + Max</c>.</param>
    /// <returns>The clamped retry time, or null when neither header is present or parseable (garbage is ignored).</returns>
    public static DateTimeOffset? FromResponse(HttpResponseMessage response, DateTimeOffset now, RetryAfterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(response);
        return FromHeaders(response.Headers, now, limits);
    }

    /// <summary>Same as <see cref="FromResponse"/> from the response headers alone.</summary>
    internal static DateTimeOffset? FromHeaders(System.Net.Http.Headers.HttpHeaders headers, DateTimeOffset now, RetryAfterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(headers);
        // NonValidated: HttpClient's own parser drops values it dislikes and does not know Retry-After-Ms.
        return FromValues(First(headers, MillisecondsHeaderName), First(headers, HeaderName), now, limits);
    }

    /// <summary>The precedence and clamping rules, on raw header values.</summary>
    internal static DateTimeOffset? FromValues(string? retryAfterMs, string? retryAfter, DateTimeOffset now, RetryAfterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (retryAfterMs is not null)
        {
            var ms = retryAfterMs.AsSpan().Trim();
            if (!ms.IsEmpty && TryParseDelay(ms, now, TimeSpan.TicksPerMillisecond, out var atMs))
                return limits.Clamp(atMs, now);
        }
        if (retryAfter is not null && TryParse(retryAfter, now, out var at))
            return limits.Clamp(at, now);
        return null;
    }

    private static string? First(System.Net.Http.Headers.HttpHeaders headers, string name)
    {
        if (!headers.NonValidated.TryGetValues(name, out var values)) return null;
        foreach (var v in values) return v;
        return null;
    }

    /// <summary>Signed decimal number of <paramref name="unitTicks"/>, saturating instead of overflowing.</summary>
    private static bool TryParseDelay(ReadOnlySpan<char> s, DateTimeOffset now, long unitTicks, out DateTimeOffset retryAt)
    {
        retryAt = default;
        var i = 0;
        var negative = false;
        if (s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            i++;
        }
        double number = 0;
        var digits = 0;
        for (; i < s.Length && char.IsAsciiDigit(s[i]); i++, digits++)
            number = number * 10 + (s[i] - '0');
        if (i < s.Length && s[i] == '.')
        {
            // Fractions are not RFC delta-seconds, but Retry-After-Ms senders use them; harmless to accept.
            i++;
            var fraction = 0;
            var scale = 0.1;
            for (; i < s.Length && char.IsAsciiDigit(s[i]); i++, fraction++, scale /= 10)
                number += (s[i] - '0') * scale;
            if (fraction == 0) return false;
        }
        if (digits == 0 || i != s.Length) return false;

        var ticks = number * unitTicks;
        if (negative) ticks = -ticks;
        var room = (double)(DateTimeOffset.MaxValue.UtcTicks - now.UtcTicks);
        var floor = (double)(DateTimeOffset.MinValue.UtcTicks - now.UtcTicks);
        retryAt = ticks >= room ? DateTimeOffset.MaxValue
            : ticks <= floor ? DateTimeOffset.MinValue
            : now.AddTicks((long)ticks);
        return true;
    }

    private static bool TryParseHttpDate(ReadOnlySpan<char> s, DateTimeOffset now, out DateTimeOffset retryAt)
    {
        retryAt = default;
        var pos = 0;
        var nameLength = ReadLetters(s, ref pos);
        if (!IsDayName(s.Slice(0, nameLength))) return false;

        int day, month, year, hour, minute, second;
        if (pos < s.Length && s[pos] == ',')
        {
            pos++;
            if (!SkipSpaces(s, ref pos) || !ReadNumber(s, ref pos, 1, 2, out day)) return false;
            if (pos < s.Length && s[pos] == '-')
            {
                // RFC 850: 06-Nov-94; four-digit years are tolerated.
                pos++;
                if (!ReadMonth(s, ref pos, out month)) return false;
                if (pos >= s.Length || s[pos] != '-') return false;
                pos++;
                var yearStart = pos;
                if (!ReadNumber(s, ref pos, 2, 4, out year) || pos - yearStart == 3) return false;
                if (pos - yearStart == 2) year = ExpandTwoDigitYear(year, now);
            }
            else
            {
                // IMF-fixdate: 06 Nov 1994.
                if (!SkipSpaces(s, ref pos) || !ReadMonth(s, ref pos, out month)) return false;
                if (!SkipSpaces(s, ref pos) || !ReadNumber(s, ref pos, 4, 4, out year)) return false;
            }
            if (!SkipSpaces(s, ref pos) || !ReadTime(s, ref pos, out hour, out minute, out second)) return false;
            if (!SkipSpaces(s, ref pos) || !ReadZone(s, ref pos)) return false;
        }
        else
        {
            // asctime: Sun Nov  6 08:49:37 1994 (always UTC by definition).
            if (!SkipSpaces(s, ref pos) || !ReadMonth(s, ref pos, out month)) return false;
            if (!SkipSpaces(s, ref pos) || !ReadNumber(s, ref pos, 1, 2, out day)) return false;
            if (!SkipSpaces(s, ref pos) || !ReadTime(s, ref pos, out hour, out minute, out second)) return false;
            if (!SkipSpaces(s, ref pos) || !ReadNumber(s, ref pos, 4, 4, out year)) return false;
        }
        if (pos != s.Length) return false;

        if (year < 1 || day < 1 || day > DateTime.DaysInMonth(year, month)) return false;
        if (hour > 23 || minute > 59 || second > 60) return false;
        if (second == 60) second = 59; // leap second: one second early is close enough for a retry time
        retryAt = new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero);
        return true;
    }

    /// <summary>RFC 9110: a two-digit year more than 50 years ahead is in the previous century.</summary>
    private static int ExpandTwoDigitYear(int yy, DateTimeOffset now)
    {
        var year = now.UtcDateTime.Year / 100 * 100 + yy;
        if (year > now.UtcDateTime.Year + 50) year -= 100;
        return Math.Max(year, 1);
    }

    private static int ReadLetters(ReadOnlySpan<char> s, ref int pos)
    {
        var start = pos;
        while (pos < s.Length && char.IsAsciiLetter(s[pos])) pos++;
        return pos - start;
    }

    private static bool IsDayName(ReadOnlySpan<char> name)
    {
        foreach (var d in DayNames)
            if (name.Equals(d, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    private static bool ReadMonth(ReadOnlySpan<char> s, ref int pos, out int month)
    {
        month = 0;
        var start = pos;
        if (ReadLetters(s, ref pos) != 3) return false;
        var name = s.Slice(start, 3);
        for (var m = 0; m < Months.Length; m++)
        {
            if (name.Equals(Months[m], StringComparison.OrdinalIgnoreCase))
            {
                month = m + 1;
                return true;
            }
        }
        return false;
    }

    private static bool ReadNumber(ReadOnlySpan<char> s, ref int pos, int minDigits, int maxDigits, out int value)
    {
        value = 0;
        var start = pos;
        while (pos < s.Length && pos - start < maxDigits && char.IsAsciiDigit(s[pos]))
        {
            value = value * 10 + (s[pos] - '0');
            pos++;
        }
        var count = pos - start;
        // A longer run of digits than allowed is malformed, not a truncated number.
        return count >= minDigits && (pos >= s.Length || !char.IsAsciiDigit(s[pos]));
    }

    private static bool ReadTime(ReadOnlySpan<char> s, ref int pos, out int hour, out int minute, out int second)
    {
        minute = second = 0;
        if (!ReadNumber(s, ref pos, 2, 2, out hour)) return false;
        if (pos >= s.Length || s[pos] != ':') return false;
        pos++;
        if (!ReadNumber(s, ref pos, 2, 2, out minute)) return false;
        if (pos >= s.Length || s[pos] != ':') return false;
        pos++;
        return ReadNumber(s, ref pos, 2, 2, out second);
    }

    private static bool ReadZone(ReadOnlySpan<char> s, ref int pos)
    {
        var start = pos;
        var length = ReadLetters(s, ref pos);
        var zone = s.Slice(start, length);
        // RFC 9110 requires GMT; UTC is a common misspelling of the same instant.
        return zone.Equals("GMT", StringComparison.OrdinalIgnoreCase) || zone.Equals("UTC", StringComparison.OrdinalIgnoreCase);
    }

    private static bool SkipSpaces(ReadOnlySpan<char> s, ref int pos)
    {
        var start = pos;
        while (pos < s.Length && s[pos] == ' ') pos++;
        return pos > start;
    }
}
