using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using ActorRefresh.Core.Backoff;

namespace ActorRefresh.Core.Tokens;

/// <summary>
/// Maps one token endpoint answer to exactly one <see cref="RefreshOutcome"/> (the classification table
/// of the design). Pure: status, headers, body text and the clock in, outcome out. Every message it
/// builds is scrubbed of the refresh token that was sent and of any token text in the body.
/// </summary>
internal static class RefreshResponseClassifier
{
    /// <summary>Longest message carried by an outcome.</summary>
    internal const int MaxMessageLength = 200;

    private static readonly HashSet<string> GrantErrors = new(StringComparer.OrdinalIgnoreCase)
    {
        "invalid_grant", "invalid_client", "unauthorized_client",
    };

    /// <summary>Classifies one answer.</summary>
    /// <param name="status">HTTP status code.</param>
    /// <param name="headers">Response headers (for Retry-After), if any.</param>
    /// <param name="body">Body text (possibly truncated), or null/empty when there was none.</param>
    /// <param name="sentRefreshToken">The refresh token that was sent, to scrub it from messages.</param>
    /// <param name="now">The current time.</param>
    /// <param name="limits">Bounds for Retry-After.</param>
    public static RefreshOutcome Classify(int status, HttpHeaders? headers, string? body, Secret sentRefreshToken, DateTimeOffset now, RetryAfterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(sentRefreshToken);
        ArgumentNullException.ThrowIfNull(limits);
        body ??= "";
        using var json = TryParseJson(body);
        var root = json?.RootElement;
        var secrets = new List<string> { sentRefreshToken.Reveal() };
        if (root is { } r) TokenScrubber.CollectTokenValues(r, secrets);
        string Clean(string text) => TokenScrubber.Tidy(TokenScrubber.Scrub(text, secrets), MaxMessageLength);
        DateTimeOffset? RetryAt() => headers is null ? null : RetryAfter.FromHeaders(headers, now, limits);

        if (status is >= 200 and < 300)
            return ClassifySuccess(status, root, now, Clean);

        if (status == 429)
            return new RefreshOutcome.RateLimited(RetryAt());

        if (status >= 500)
            return new RefreshOutcome.Transient(Clean($"server error (HTTP {status}): {MessageOf(root, body, status)}"), RetryAt());

        if (status == 403)
        {
            if (root is { ValueKind: JsonValueKind.Object } o && ErrorType(o) is { } type
                && type.Equals("permission_error", StringComparison.OrdinalIgnoreCase))
                return new RefreshOutcome.PolicyRefused(Clean(ErrorMessage(o) ?? "permission_error"));
            // A CDN or bot check answers 403 with HTML (Cloudflare 1010): not the provider's policy.
            var what = root is null ? "non-JSON body" : "JSON body without permission_error";
            var snippet = body.Length == 0 ? "empty body" : $"{what}: {body}";
            return new RefreshOutcome.Transient(Clean($"refused by a web application firewall / CDN (403, {snippet})"), RetryAt());
        }

        if (status is 400 or 401 && root is { ValueKind: JsonValueKind.Object } obj
            && ErrorType(obj) is { } error && GrantErrors.Contains(error))
        {
            var description = ErrorMessage(obj);
            return new RefreshOutcome.GrantRejected(error, description is null ? null : Clean(description));
        }

        if (status is >= 400 and < 500)
            return new RefreshOutcome.Rejected(status, Clean(MessageOf(root, body, status)));

        if (status is >= 300 and < 400)
        {
            // Redirects are not followed (a refresh token must not travel to another place); the URL is wrong.
            var location = headers is not null && headers.NonValidated.TryGetValues("Location", out var l) ? l.ToString() : "no Location";
            return new RefreshOutcome.Rejected(status, Clean($"unexpected redirect (HTTP {status}) to {location}; check the TokenEndpoint"));
        }

        return new RefreshOutcome.Transient(Clean($"unexpected HTTP status {status}"), RetryAt());
    }

    private static RefreshOutcome ClassifySuccess(int status, JsonElement? root, DateTimeOffset now, Func<string, string> clean)
    {
        if (root is not { ValueKind: JsonValueKind.Object } o)
            return new RefreshOutcome.Transient($"unreadable token response (HTTP {status}, not a JSON object)", AnswerMayBeLost: true);
        var access = StringOf(o, "access_token");
        if (string.IsNullOrWhiteSpace(access))
            return new RefreshOutcome.Transient($"unreadable token response (HTTP {status}, no access_token)", AnswerMayBeLost: true);
        if (!TryGetSeconds(o, "expires_in", out var seconds))
            return new RefreshOutcome.Transient($"unreadable token response (HTTP {status}, no valid expires_in)", AnswerMayBeLost: true);

        var refresh = Secret.FromNullable(StringOf(o, "refresh_token"));
        // Some providers say when the grant itself ends; the account warns before it instead of meeting an invalid_grant.
        DateTimeOffset? grantEnds = TryGetSeconds(o, "refresh_token_expires_in", out var grantSeconds) && grantSeconds > 0
            ? RetryAfterLimits.SafeAdd(now, TimeSpan.FromSeconds(grantSeconds))
            : null;
        return new RefreshOutcome.Refreshed(new Secret(access), RetryAfterLimits.SafeAdd(now, TimeSpan.FromSeconds(seconds)), refresh, AccountOf(o))
        {
            RefreshTokenExpiresAt = grantEnds,
        };
    }

    private static TokenAccountInfo? AccountOf(JsonElement o)
    {
        string? accountId = null, email = null, orgId = null, orgName = null;
        if (o.TryGetProperty("account", out var account) && account.ValueKind == JsonValueKind.Object)
        {
            accountId = StringOf(account, "uuid");
            email = StringOf(account, "email_address");
        }
        if (o.TryGetProperty("organization", out var org) && org.ValueKind == JsonValueKind.Object)
        {
            orgId = StringOf(org, "uuid");
            orgName = StringOf(org, "name");
        }
        return accountId is null && email is null && orgId is null && orgName is null
            ? null
            : new TokenAccountInfo(accountId, email, orgId, orgName);
    }

    private static bool TryGetSeconds(JsonElement o, string name, out double seconds)
    {
        seconds = 0;
        if (!o.TryGetProperty(name, out var v)) return false;
        var ok = v.ValueKind switch
        {
            JsonValueKind.Number => v.TryGetDouble(out seconds),
            // Some providers send numbers as strings.
            JsonValueKind.String => double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds),
            _ => false,
        };
        // Ten years is far beyond any real access token; larger values are garbage. Zero is a token that expired on
        // arrival: still a success, because the refresh token that came with it must be kept.
        return ok && seconds >= 0 && seconds <= 10 * 365.25 * 24 * 3600;
    }

    /// <summary>The OAuth/Anthropic error code: flat <c>{"error":"x"}</c>, nested <c>{"error":{"type":"x"}}</c>
    /// (also inside <c>{"type":"error","error":{…}}</c>), or <c>{"error":{"code":"x"}}</c>.</summary>
    internal static string? ErrorType(JsonElement o)
    {
        if (!o.TryGetProperty("error", out var error)) return null;
        return error.ValueKind switch
        {
            JsonValueKind.String => error.GetString(),
            JsonValueKind.Object => StringOf(error, "type") ?? StringOf(error, "code"),
            _ => null,
        };
    }

    internal static string? ErrorMessage(JsonElement o)
    {
        if (StringOf(o, "error_description") is { Length: > 0 } description) return description;
        if (o.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
            && (StringOf(error, "message") ?? StringOf(error, "description")) is { Length: > 0 } nested)
            return nested;
        return StringOf(o, "message") is { Length: > 0 } message ? message : null;
    }

    internal static string MessageOf(JsonElement? root, string body, int status)
    {
        if (root is { ValueKind: JsonValueKind.Object } o)
        {
            var type = ErrorType(o);
            var message = ErrorMessage(o);
            if (type is not null || message is not null)
                return type is null ? message! : message is null ? type : $"{type}: {message}";
        }
        return string.IsNullOrWhiteSpace(body) ? $"HTTP {status} with an empty body" : body;
    }

    internal static string? StringOf(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static JsonDocument? TryParseJson(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        var first = body.AsSpan().TrimStart();
        if (first.IsEmpty || (first[0] != '{' && first[0] != '[')) return null;
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
