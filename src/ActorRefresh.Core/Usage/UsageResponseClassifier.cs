using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Usage;

/// <summary>
/// Maps one usage endpoint answer to exactly one <see cref="UsageOutcome"/>. Pure: status, headers, body text and
/// the clock in, outcome out. Messages are scrubbed of the access token that was sent and of token-shaped text.
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><term>2xx JSON object</term><description><see cref="UsageOutcome.QuotaObserved"/> (parts that are missing or malformed are null)</description></item>
/// <item><term>2xx not a JSON object</term><description><see cref="UsageOutcome.QuotaCheckTransient"/></description></item>
/// <item><term>429</term><description><see cref="UsageOutcome.QuotaCheckRateLimited"/> with the clamped Retry-After</description></item>
/// <item><term>401</term><description><see cref="UsageOutcome.AccessTokenRejected"/></description></item>
/// <item><term>403 JSON <c>permission_error</c></term><description><see cref="UsageOutcome.PolicyRefused"/></description></item>
/// <item><term>403 anything else, 5xx, other status</term><description><see cref="UsageOutcome.QuotaCheckTransient"/></description></item>
/// </list>
/// </remarks>
internal static class UsageResponseClassifier
{
    public static UsageOutcome Classify(int status, HttpHeaders? headers, string? body, Secret sentAccessToken, DateTimeOffset now, RetryAfterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(sentAccessToken);
        ArgumentNullException.ThrowIfNull(limits);
        body ??= "";
        using var json = RefreshResponseClassifier.TryParseJson(body);
        var root = json?.RootElement;
        var secrets = new List<string> { sentAccessToken.Reveal() };
        if (root is { } r) TokenScrubber.CollectTokenValues(r, secrets);
        string Clean(string text) => TokenScrubber.Tidy(TokenScrubber.Scrub(text, secrets), RefreshResponseClassifier.MaxMessageLength);
        DateTimeOffset? RetryAt() => headers is null ? null : RetryAfter.FromHeaders(headers, now, limits);

        if (status is >= 200 and < 300)
        {
            return root is { ValueKind: JsonValueKind.Object } o
                ? new UsageOutcome.QuotaObserved(ParseSnapshot(o, now))
                : new UsageOutcome.QuotaCheckTransient($"unreadable usage response (HTTP {status}, not a JSON object)");
        }

        if (status == 429)
            return new UsageOutcome.QuotaCheckRateLimited(RetryAt());

        if (status == 401)
            return new UsageOutcome.AccessTokenRejected(Clean(RefreshResponseClassifier.MessageOf(root, body, status)));

        if (status == 403)
        {
            if (root is { ValueKind: JsonValueKind.Object } o && RefreshResponseClassifier.ErrorType(o) is { } type
                && type.Equals("permission_error", StringComparison.OrdinalIgnoreCase))
                return new UsageOutcome.PolicyRefused(Clean(RefreshResponseClassifier.ErrorMessage(o) ?? "permission_error"));
            var what = root is null ? "non-JSON body" : "JSON body without permission_error";
            var snippet = body.Length == 0 ? "empty body" : $"{what}: {body}";
            return new UsageOutcome.QuotaCheckTransient(Clean($"refused by a web application firewall / CDN (403, {snippet})"), RetryAt());
        }

        if (status >= 500)
            return new UsageOutcome.QuotaCheckTransient(Clean($"server error (HTTP {status}): {RefreshResponseClassifier.MessageOf(root, body, status)}"), RetryAt());

        return new UsageOutcome.QuotaCheckTransient(Clean($"unexpected answer (HTTP {status}): {RefreshResponseClassifier.MessageOf(root, body, status)}"), RetryAt());
    }

    /// <summary>Reads <c>five_hour</c>, <c>seven_day</c> and <c>limits[]</c>; anything missing or malformed is skipped.</summary>
    internal static UsageSnapshot ParseSnapshot(JsonElement o, DateTimeOffset now)
    {
        var fiveHour = Window(o, "five_hour");
        var sevenDay = Window(o, "seven_day");
        var limits = new List<UsageLimit>();
        if (o.TryGetProperty("limits", out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in array.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object) continue;
                var kind = RefreshResponseClassifier.StringOf(item, "kind") ?? RefreshResponseClassifier.StringOf(item, "type");
                var percent = Number(item, "percent") ?? Number(item, "utilization");
                if (kind is null || percent is null) continue;
                limits.Add(new UsageLimit(kind, Clamp(percent.Value), Time(item, "resets_at")));
            }
        }
        // A window missing at the top level may still be described in limits[].
        fiveHour ??= FromLimits(limits, "five_hour");
        sevenDay ??= FromLimits(limits, "seven_day");
        return new UsageSnapshot(fiveHour, sevenDay, limits, now);
    }

    private static UsageWindow? FromLimits(List<UsageLimit> limits, string kind) =>
        limits.FirstOrDefault(l => l.Kind.Equals(kind, StringComparison.OrdinalIgnoreCase)) is { } l ? new UsageWindow(l.Percent, l.ResetsAt) : null;

    private static UsageWindow? Window(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var w) || w.ValueKind != JsonValueKind.Object) return null;
        var utilization = Number(w, "utilization") ?? Number(w, "percent");
        return utilization is null ? null : new UsageWindow(Clamp(utilization.Value), Time(w, "resets_at"));
    }

    private static double Clamp(double value) => double.IsNaN(value) ? 0 : Math.Clamp(value, 0, 100);

    private static double? Number(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Number when v.TryGetDouble(out var d) => d,
            JsonValueKind.String when double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
            _ => null,
        };
    }

    private static DateTimeOffset? Time(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
        && DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : null;
}
