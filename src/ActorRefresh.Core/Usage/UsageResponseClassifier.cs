using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
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
/// <item><term>403 JSON <c>permission_error</c>, organisation-policy message</term><description><see cref="UsageOutcome.PolicyRefused"/></description></item>
/// <item><term>403 JSON <c>permission_error</c>, "does not meet scope requirement &lt;scope&gt;"</term><description><see cref="UsageOutcome.ScopeMissing"/></description></item>
/// <item><term>403 anything else (HTML, unknown JSON, other messages), 5xx, other status</term><description><see cref="UsageOutcome.QuotaCheckTransient"/></description></item>
/// </list>
/// A 403 is told apart by its message, never by the status alone: only the organisation-policy refusal may block an
/// account. Messages are compared after folding whitespace (line breaks included) and case.
/// </remarks>
internal static partial class UsageResponseClassifier
{
    // "OAuth authentication is currently not allowed for this organization." ("currently" optional, either spelling).
    [GeneratedRegex(@"\boauth\s+authentication\s+is\s+(?:currently\s+)?not\s+allowed\s+for\s+this\s+organi[sz]ation\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex OrganisationPolicy();

    // "OAuth token does not meet scope requirement user:profile" (a line break may stand before the scope).
    [GeneratedRegex(@"\bdoes\s+not\s+meet\s+(?:the\s+)?scope\s+requirements?\s*:?\s*(?<scope>[a-z][a-z0-9_.\-]*(?::[a-z0-9_.\-]+)*)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ScopeRequirement();

    /// <summary>True when <paramref name="message"/> is the organisation-policy refusal of OAuth.</summary>
    internal static bool IsOrganisationPolicy(string? message) => message is not null && OrganisationPolicy().IsMatch(message);

    /// <summary>The scope a "does not meet scope requirement" message names, or null when it is no such message.</summary>
    internal static string? MissingScope(string? message)
    {
        if (message is null) return null;
        var match = ScopeRequirement().Match(message);
        return match.Success ? match.Groups["scope"].Value.TrimEnd('.') : null;
    }

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
            {
                var message = RefreshResponseClassifier.ErrorMessage(o);
                if (IsOrganisationPolicy(message))
                    return new UsageOutcome.PolicyRefused(Clean(message!));
                // A scope that is token text would be scrubbed away: then it is no scope this engine can name.
                if (MissingScope(message) is { } scope && Clean(scope) == scope)
                    return new UsageOutcome.ScopeMissing(scope, Clean(message!));
                return new UsageOutcome.QuotaCheckTransient(
                    Clean($"usage check refused (403 permission_error: {message ?? "no message"})"), RetryAt());
            }
            var what = root is null ? "non-JSON body" : "JSON body without permission_error";
            var snippet = body.Length == 0 ? "empty body" : $"{what}: {body}";
            return new UsageOutcome.QuotaCheckTransient(Clean($"usage check refused (403, {snippet}); a web application firewall / CDN or an unknown refusal"), RetryAt());
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
