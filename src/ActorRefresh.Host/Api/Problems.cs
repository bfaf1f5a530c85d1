using System.Globalization;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Api;

/// <summary>RFC 7807 answers. Details come from exception messages, which the contract keeps token-free; never a stack trace.</summary>
internal static class Problems
{
    public static IResult Create(int status, string title, string reason, IDictionary<string, object?>? extra = null)
    {
        var extensions = new Dictionary<string, object?>(StringComparer.Ordinal) { ["reason"] = reason };
        if (extra is not null)
        {
            foreach (var (key, value) in extra)
                extensions[key] = value;
        }
        return TypedResults.Problem(detail: reason, statusCode: status, title: title, extensions: extensions);
    }

    public static IResult BadRequest(string reason) => Create(StatusCodes.Status400BadRequest, "Bad request", reason);

    /// <summary>Maps the typed failures of <see cref="ITokenProvider"/>; null for anything else.</summary>
    public static IResult? ForException(Exception exception, DateTimeOffset now) => exception switch
    {
        TokenBackingOffException backingOff => new WithHeader(
            Create(StatusCodes.Status503ServiceUnavailable, "Backing off", backingOff.Reason,
                new Dictionary<string, object?> { ["retryAt"] = backingOff.RetryAt, ["accountId"] = backingOff.AccountId }),
            "Retry-After", RetryAfterSeconds(backingOff.RetryAt, now).ToString(CultureInfo.InvariantCulture)),
        AccountBlockedException blocked => Create(StatusCodes.Status409Conflict, "Account blocked", blocked.Reason,
            new Dictionary<string, object?> { ["accountId"] = blocked.AccountId }),
        AccountNotFoundException notFound => Create(StatusCodes.Status404NotFound, "Account not found", notFound.Message,
            new Dictionary<string, object?> { ["accountId"] = notFound.AccountId }),
        InvalidAccountCommandException invalid => Create(StatusCodes.Status400BadRequest, "Invalid command", invalid.Reason,
            new Dictionary<string, object?> { ["accountId"] = invalid.AccountId }),
        EngineUnavailableException unavailable => Create(StatusCodes.Status503ServiceUnavailable, "Engine unavailable",
            unavailable.Message, new Dictionary<string, object?> { ["accountId"] = unavailable.AccountId }),
        PoolNotFoundException noPool => Create(StatusCodes.Status404NotFound, "Pool not found", noPool.Message,
            new Dictionary<string, object?> { ["pool"] = noPool.Pool }),
        NoUsableAccountException none => NoUsableAccount(none, now),
        BadRequestBodyException bad => BadRequest(bad.Message),
        LimitReachedException limit => Create(StatusCodes.Status409Conflict, "Limit reached", limit.Message),
        SyncFileTakenException taken => Create(StatusCodes.Status409Conflict, "Credentials file taken", taken.Message,
            new Dictionary<string, object?> { ["accountId"] = taken.Owner }),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => Create(
            StatusCodes.Status413PayloadTooLarge, "Payload too large",
            $"The request body is larger than {ApiOptions.MaxRequestBodyBytes} bytes."),
        BadHttpRequestException bad => Create(bad.StatusCode, "Bad request", "The request could not be read."),
        _ => null,
    };

    /// <summary>503 with the reason and <c>retryAt</c>; <c>Retry-After</c> only when the engine knows when a member becomes usable.</summary>
    private static IResult NoUsableAccount(NoUsableAccountException none, DateTimeOffset now)
    {
        var problem = Create(StatusCodes.Status503ServiceUnavailable, "No usable account", none.Reason,
            new Dictionary<string, object?> { ["pool"] = none.Pool, ["retryAt"] = none.RetryAt });
        return none.RetryAt is { } retryAt
            ? new WithHeader(problem, "Retry-After", RetryAfterSeconds(retryAt, now).ToString(CultureInfo.InvariantCulture))
            : problem;
    }

    /// <summary>Whole seconds until <paramref name="retryAt"/>, rounded up, never negative.</summary>
    public static long RetryAfterSeconds(DateTimeOffset retryAt, DateTimeOffset now)
    {
        var seconds = (retryAt - now).TotalSeconds;
        return seconds <= 0 ? 0 : (long)Math.Ceiling(seconds);
    }

    private sealed class WithHeader(IResult inner, string name, string value) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers[name] = value;
            return inner.ExecuteAsync(httpContext);
        }
    }
}

/// <summary>A request body that is not valid for its endpoint; the message says why and is safe to return.</summary>
internal sealed class BadRequestBodyException(string reason) : Exception(reason);
