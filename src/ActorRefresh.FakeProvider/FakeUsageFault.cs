namespace ActorRefresh.TestKit;

/// <summary>A scripted misbehaviour of the usage endpoint, used with <see cref="FakeTokenServer.ScriptUsage"/>.</summary>
public abstract record FakeUsageFault
{
    private protected FakeUsageFault()
    {
    }

    /// <summary>429 <c>rate_limit_error</c>, with <c>Retry-After</c> in whole seconds (rounded up) when <paramref name="retryAfter"/> is given.</summary>
    /// <param name="retryAfter">The delay to announce, or null for no header.</param>
    /// <returns>The fault.</returns>
    public static FakeUsageFault RateLimited(TimeSpan? retryAfter) => new UsageRateLimitedFault(retryAfter);

    /// <summary>401 <c>authentication_error</c>, as for an expired access token.</summary>
    public static FakeUsageFault Unauthorized { get; } = new UsageUnauthorizedFault();

    /// <summary>403 <c>permission_error</c>: an organisation policy refusal.</summary>
    public static FakeUsageFault PolicyForbidden { get; } = new UsagePolicyForbiddenFault();

    /// <summary>
    /// 403 <c>permission_error</c> "OAuth token does not meet scope requirement user:profile", as the real endpoint answers a
    /// token whose grant lacks that scope (a <c>claude setup-token</c> token): inference works, the usage endpoint does not.
    /// </summary>
    /// <param name="lineBreak">True to put a line break before the scope, as some answers do.</param>
    /// <returns>The fault.</returns>
    public static FakeUsageFault ScopeForbidden(bool lineBreak = false) => PermissionError(
        lineBreak ? "OAuth token does not meet scope requirement\nuser:profile" : "OAuth token does not meet scope requirement user:profile");

    /// <summary>403 <c>{"type":"error","error":{"type":"permission_error","message":…}}</c> with any message.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The fault.</returns>
    public static FakeUsageFault PermissionError(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new UsageForbiddenFault("application/json", Responses.ApiError("permission_error", message).ToJsonString());
    }

    /// <summary>403 with exactly this body and content type (an unknown JSON shape, say).</summary>
    /// <param name="contentType">The Content-Type header.</param>
    /// <param name="body">The body.</param>
    /// <returns>The fault.</returns>
    public static FakeUsageFault Forbidden(string contentType, string body)
    {
        ArgumentNullException.ThrowIfNull(contentType);
        ArgumentNullException.ThrowIfNull(body);
        return new UsageForbiddenFault(contentType, body);
    }

    /// <summary>Never answers: the request waits until the client gives up (or the server stops).</summary>
    public static FakeUsageFault Hang { get; } = new UsageHangFault();

    /// <summary>403 with the CDN's HTML body containing "error code: 1010".</summary>
    public static FakeUsageFault CdnForbidden { get; } = new UsageCdnForbiddenFault();

    /// <summary>A 5xx answer with a JSON <c>api_error</c> body.</summary>
    /// <param name="status">The status code, 500 by default.</param>
    /// <returns>The fault.</returns>
    public static FakeUsageFault ServerError(int status = 500)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(status, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 599);
        return new UsageServerErrorFault(status);
    }
}

internal sealed record UsageRateLimitedFault(TimeSpan? RetryAfter) : FakeUsageFault;

internal sealed record UsageUnauthorizedFault : FakeUsageFault;

internal sealed record UsagePolicyForbiddenFault : FakeUsageFault;

internal sealed record UsageCdnForbiddenFault : FakeUsageFault;

internal sealed record UsageForbiddenFault(string ContentType, string Body) : FakeUsageFault;

internal sealed record UsageHangFault : FakeUsageFault;

internal sealed record UsageServerErrorFault(int Status) : FakeUsageFault;
