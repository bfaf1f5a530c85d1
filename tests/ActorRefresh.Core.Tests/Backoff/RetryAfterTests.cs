using System.Globalization;
using ActorRefresh.Core.Backoff;
using FsCheck;
using FsCheck.Xunit;

namespace ActorRefresh.Core.Tests.Backoff;

public sealed class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Nov1994 = new(1994, 11, 6, 8, 49, 37, TimeSpan.Zero);

    [Theory]
    [InlineData("0", 0)]
    [InlineData("120", 120)]
    [InlineData("  7  ", 7)]
    [InlineData("+3", 3)]
    [InlineData("-30", -30)]
    [InlineData("1.5", 1.5)]
    public void Delta_seconds_are_relative_to_now(string value, double seconds)
    {
        Assert.True(RetryAfter.TryParse(value, Now, out var at));
        Assert.Equal(Now.AddSeconds(seconds), at);
    }

    [Theory]
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT")] // IMF-fixdate
    [InlineData("sun, 06 nov 1994 08:49:37 gmt")]
    [InlineData("Sunday, 06-Nov-94 08:49:37 GMT")] // obsolete RFC 850
    [InlineData("Sun Nov  6 08:49:37 1994")] // asctime
    [InlineData("Sun Nov 06 08:49:37 1994")]
    [InlineData("Sun, 6 Nov 1994 08:49:37 UTC")]
    public void All_three_http_date_forms_parse(string value)
    {
        Assert.True(RetryAfter.TryParse(value, new DateTimeOffset(1995, 1, 1, 0, 0, 0, TimeSpan.Zero), out var at));
        Assert.Equal(Nov1994, at);
    }

    [Fact]
    public void Two_digit_years_more_than_fifty_years_ahead_belong_to_the_previous_century()
    {
        Assert.True(RetryAfter.TryParse("Thursday, 01-Jan-26 12:05:00 GMT", Now, out var near));
        Assert.Equal(Now.AddMinutes(5), near);
        Assert.True(RetryAfter.TryParse("Sunday, 06-Nov-94 08:49:37 GMT", Now, out var old));
        Assert.Equal(1994, old.Year);
        Assert.True(RetryAfter.TryParse("Monday, 01-Jan-70 00:00:00 GMT", Now, out var soon));
        Assert.Equal(2070, soon.Year);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("soon")]
    [InlineData("12abc")]
    [InlineData("1e5")]
    [InlineData("-")]
    [InlineData("+")]
    [InlineData("1.")]
    [InlineData(".")]
    [InlineData("Sun, 06 Nov 1994 08:49:37")]
    [InlineData("Sun, 06 Nov 1994 08:49:37 PST")]
    [InlineData("Sun, 31 Feb 1994 08:49:37 GMT")]
    [InlineData("Sun, 06 Nov 1994 25:49:37 GMT")]
    [InlineData("Sun, 06 Foo 1994 08:49:37 GMT")]
    [InlineData("Xyz, 06 Nov 1994 08:49:37 GMT")]
    [InlineData("Sun, 06 Nov 19945 08:49:37 GMT")]
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT trailing")]
    [InlineData("Sunday, 06-Nov-994 08:49:37 GMT")]
    [InlineData("Sun Nov  6 08:49:37")]
    [InlineData("2026-01-01T12:00:00Z")]
    public void Garbage_is_refused(string value)
    {
        Assert.False(RetryAfter.TryParse(value, Now, out _));
    }

    [Fact]
    public void Parsing_ignores_the_current_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            // The build runs globalization-invariant, so fake a hostile culture: comma decimals, other month names.
            var hostile = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            hostile.NumberFormat.NumberDecimalSeparator = ",";
            hostile.NumberFormat.NumberGroupSeparator = ".";
            hostile.DateTimeFormat.AbbreviatedMonthNames = ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez", ""];
            hostile.DateTimeFormat.AbbreviatedDayNames = ["So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"];
            CultureInfo.CurrentCulture = hostile;
            Assert.True(RetryAfter.TryParse("Sun, 06 Nov 1994 08:49:37 GMT", Now, out var at));
            Assert.Equal(Nov1994, at);
            Assert.True(RetryAfter.TryParse("2.5", Now, out var delta));
            Assert.Equal(Now.AddSeconds(2.5), delta);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void Huge_delays_saturate_instead_of_overflowing()
    {
        Assert.True(RetryAfter.TryParse("99999999999999999999999999999", Now, out var at));
        Assert.Equal(DateTimeOffset.MaxValue, at);
        Assert.True(RetryAfter.TryParse("-99999999999999999999999999999", Now, out var past));
        Assert.Equal(DateTimeOffset.MinValue, past);
    }

    [Theory]
    [InlineData("120", null, 120_000)]
    [InlineData("Thu, 01 Jan 2026 12:02:00 GMT", null, 120_000)]
    [InlineData("120", "2500", 2_500)]
    [InlineData("120", "2500.5", 2_500.5)]
    [InlineData("120", "garbage", 120_000)] // an invalid Retry-After-Ms does not hide a valid Retry-After
    [InlineData(null, "1500", 1_500)]
    [InlineData("0", null, 1_000)] // zero → Min
    [InlineData("-10", null, 1_000)] // negative → Min
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT", null, 1_000)] // past → Min
    [InlineData(null, "10", 1_000)] // below Min → Min
    [InlineData("10800", null, 10_800_000)] // three hours: honoured as given
    [InlineData("86400", null, 86_400_000)] // a day: the hard cap
    [InlineData("86401", null, 86_400_000)] // beyond Max → Max
    [InlineData("Fri, 31 Dec 9999 23:59:59 GMT", null, 86_400_000)]
    [InlineData("99999999999999999999999", null, 86_400_000)]
    public void FromResponse_applies_precedence_and_clamping(string? retryAfter, string? retryAfterMs, double expectedMs)
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.TooManyRequests);
        if (retryAfter is not null) response.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
        if (retryAfterMs is not null) response.Headers.TryAddWithoutValidation("Retry-After-Ms", retryAfterMs);

        var at = RetryAfter.FromResponse(response, Now, RetryAfterLimits.Default);

        Assert.Equal(Now.AddMilliseconds(expectedMs), at);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("soon", null)]
    [InlineData("soon", "later")]
    [InlineData("", "")]
    public void FromResponse_returns_null_for_missing_or_garbage_headers(string? retryAfter, string? retryAfterMs)
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.TooManyRequests);
        if (retryAfter is not null) response.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
        if (retryAfterMs is not null) response.Headers.TryAddWithoutValidation("Retry-After-Ms", retryAfterMs);

        Assert.Null(RetryAfter.FromResponse(response, Now, RetryAfterLimits.Default));
    }

    [Fact]
    public void Custom_limits_are_honoured()
    {
        var limits = new RetryAfterLimits { Min = TimeSpan.FromSeconds(5), Max = TimeSpan.FromMinutes(2) };
        Assert.Equal(Now.AddSeconds(5), limits.Clamp(Now.AddSeconds(1), Now));
        Assert.Equal(Now.AddSeconds(90), limits.Clamp(Now.AddSeconds(90), Now));
        Assert.Equal(Now.AddMinutes(2), limits.Clamp(Now.AddDays(3), Now));
    }

    [Property(MaxTest = 2000)]
    public bool TryParse_never_throws_for_any_string(string? value)
    {
        RetryAfter.TryParse(value.AsSpan(), Now, out _);
        return true;
    }

    [Property(MaxTest = 2000)]
    public bool Clamped_results_are_always_within_the_limits(string? retryAfter, string? retryAfterMs, int minSeconds, int spanSeconds)
    {
        var limits = new RetryAfterLimits
        {
            Min = TimeSpan.FromSeconds(Math.Abs((long)minSeconds) % 600),
            Max = TimeSpan.FromSeconds(Math.Abs((long)minSeconds) % 600 + Math.Abs((long)spanSeconds) % 86_400),
        };
        var at = RetryAfter.FromValues(retryAfterMs, retryAfter, Now, limits);
        return at is null || (at >= Now + limits.Min && at <= Now + limits.Max);
    }

    [Property(MaxTest = 500)]
    public bool Any_numeric_delay_is_within_the_limits(long seconds)
    {
        var at = RetryAfter.FromValues(null, seconds.ToString(CultureInfo.InvariantCulture), Now, RetryAfterLimits.Default);
        return at >= Now.AddSeconds(1) && at <= Now.AddDays(1);
    }

    [Property(MaxTest = 1000)]
    public bool Every_http_date_form_round_trips(uint secondsSinceEpoch)
    {
        // Within ±49 years of now so the RFC 850 two-digit year is unambiguous.
        var date = new DateTimeOffset(1977, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(secondsSinceEpoch % (98L * 365 * 86_400));
        var inv = CultureInfo.InvariantCulture;
        var imf = date.ToString("r", inv);
        var rfc850 = date.ToString("dddd, dd-MMM-yy HH:mm:ss 'GMT'", inv);
        var asctime = date.ToString("ddd MMM ", inv) + date.Day.ToString(inv).PadLeft(2) + date.ToString(" HH:mm:ss yyyy", inv);
        return Parses(imf, date) && Parses(rfc850, date) && Parses(asctime, date);

        static bool Parses(string text, DateTimeOffset expected) => RetryAfter.TryParse(text, Now, out var at) && at == expected;
    }

    [Property]
    public bool Non_negative_delta_seconds_add_to_now(NonNegativeInt seconds)
    {
        return RetryAfter.TryParse(seconds.Get.ToString(CultureInfo.InvariantCulture), Now, out var at) && at == Now.AddSeconds(seconds.Get);
    }
}
