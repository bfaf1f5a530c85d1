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

internal sealed record UsageServerErrorFault(int Status) : FakeUsageFault;
