using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.TestKit;

/// <summary>The wire shapes of the answers, as the real endpoints send them.</summary>
internal static class Responses
{
    public const string CdnHtml =
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>Access denied</title></head>\n" +
        "<body><h1>Access denied</h1><p>error code: 1010</p></body>\n</html>\n";

    // Truncated mid-value so that no JSON parser accepts it.
    public const string MalformedJsonBody = "{\"access_token\": \"sk-ant-oat01-trunc";

    public static JsonObject OAuthError(string error, string description) => new()
    {
        ["error"] = error,
        ["error_description"] = description,
    };

    public static JsonObject ApiError(string type, string message) => new()
    {
        ["type"] = "error",
        ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
    };

    public static JsonObject RateLimitError() => new()
    {
        ["error"] = new JsonObject { ["type"] = "rate_limit_error", ["message"] = "Rate limited. Please try again later." },
    };

    public static JsonObject Expired() => ApiError("authentication_error", "OAuth token has expired.");

    public static string ServerErrorType(int status) => status == 529 ? "overloaded_error" : "api_error";

    public static async Task WriteJsonAsync(HttpContext context, int status, JsonNode body, CancellationToken ct)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), ct).ConfigureAwait(false);
    }

    public static async Task WriteRawAsync(HttpContext context, int status, string contentType, string body, CancellationToken ct)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body, ct).ConfigureAwait(false);
    }

    public static Task WriteCdnAsync(HttpContext context, CancellationToken ct) =>
        WriteRawAsync(context, StatusCodes.Status403Forbidden, "text/html; charset=UTF-8", CdnHtml, ct);

    /// <summary>Sets Retry-After (seconds, rounded up) and returns the deadline the client was given.</summary>
    public static DateTimeOffset? SetRetryAfterSeconds(HttpContext context, TimeSpan? retryAfter, DateTimeOffset now)
    {
        if (retryAfter is not { } delay)
        {
            return null;
        }

        var seconds = (long)Math.Ceiling(Math.Max(0, delay.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return now.AddSeconds(seconds);
    }
}
