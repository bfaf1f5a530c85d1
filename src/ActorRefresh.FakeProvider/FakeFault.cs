namespace ActorRefresh.TestKit;

/// <summary>
/// A scripted misbehaviour of the token endpoint, used with <see cref="FakeTokenServer.Script"/> and
/// <see cref="FakeTokenServer.SetPersistentFault"/>.
/// </summary>
/// <remarks>
/// A fault never consumes the presented refresh token, except <see cref="Delay"/> (the normal answer follows the delay),
/// <see cref="RotateThenReset"/> (the server rotates, then the answer is lost) and <see cref="RotateOnReceipt"/> (the
/// server rotates at once and answers late). <see cref="NoRotation"/> issues a new
/// access token but keeps the refresh token valid. A request presenting an already consumed refresh token counts as
/// reuse whatever fault answers it.
/// </remarks>
public abstract record FakeFault
{
    private protected FakeFault()
    {
    }

    /// <summary>429 <c>rate_limit_error</c>, with <c>Retry-After</c> in whole seconds (rounded up) when <paramref name="retryAfter"/> is given.</summary>
    /// <param name="retryAfter">The delay to announce, or null for no <c>Retry-After</c> header.</param>
    /// <returns>The fault.</returns>
    public static FakeFault RateLimited(TimeSpan? retryAfter) => new RateLimitedFault(retryAfter, null, null);

    /// <summary>429 <c>rate_limit_error</c> with <c>Retry-After</c> as an HTTP-date (whole seconds, rounded down).</summary>
    /// <param name="until">The instant to announce.</param>
    /// <returns>The fault.</returns>
    public static FakeFault RateLimitedUntil(DateTimeOffset until) => new RateLimitedFault(null, until, null);

    /// <summary>429 <c>rate_limit_error</c> with only a <c>Retry-After-Ms</c> header.</summary>
    /// <param name="ms">The delay in milliseconds.</param>
    /// <returns>The fault.</returns>
    public static FakeFault RateLimitedMs(int ms)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ms);
        return new RateLimitedFault(null, null, ms);
    }

    /// <summary>A 5xx answer with a JSON <c>api_error</c> body.</summary>
    /// <param name="status">The status code, 500 by default.</param>
    /// <returns>The fault.</returns>
    public static FakeFault ServerError(int status = 500)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(status, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 599);
        return new ServerErrorFault(status);
    }

    /// <summary>Waits <paramref name="delay"/> on the server's clock, then answers normally (a success consumes the refresh token).</summary>
    /// <param name="delay">How long to wait.</param>
    /// <returns>The fault.</returns>
    public static FakeFault Delay(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new DelayFault(delay);
    }

    /// <summary>
    /// Waits <paramref name="delay"/> on the server's clock, then answers as <paramref name="answer"/> does: a slow failure
    /// (e.g. a 503 after several seconds) that, unlike <see cref="Delay"/>, consumes nothing when the answer is not a success.
    /// The refresh token is checked after the wait, as with <see cref="Delay"/>.
    /// </summary>
    /// <param name="delay">How long to wait before answering.</param>
    /// <param name="answer">The answer after the wait; <see cref="RotateOnReceipt"/> (which rotates on arrival) is refused.</param>
    /// <returns>The fault.</returns>
    public static FakeFault After(TimeSpan delay, FakeFault answer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(answer);
        if (answer is RotateOnReceiptFault)
            throw new ArgumentException("RotateOnReceipt rotates when the request arrives; it cannot follow a wait.", nameof(answer));
        return new AfterFault(delay, answer);
    }

    /// <summary>Never answers; the connection is aborted when the client gives up or the server is disposed.</summary>
    public static FakeFault Hang { get; } = new HangFault();

    /// <summary>Aborts the connection without an answer; the refresh token is not consumed.</summary>
    public static FakeFault ConnectionReset { get; } = new ConnectionResetFault();

    /// <summary>
    /// Processes the refresh normally (a valid refresh token is consumed and a new pair issued, see
    /// <see cref="FakeTokenServer.Current"/>), then aborts the connection: the answer is lost.
    /// </summary>
    public static FakeFault RotateThenReset { get; } = new RotateThenResetFault();

    /// <summary>
    /// Behaves like a real provider that answers slowly: the refresh is processed the moment the request arrives (a
    /// valid refresh token is consumed and a new pair issued, see <see cref="FakeTokenServer.Current"/>), then the answer
    /// follows after <see cref="FakeTokenServerOptions.Latency"/> plus <paramref name="answerAfter"/> on the server's
    /// clock. A client that gives up or dies meanwhile does not undo the rotation: its answer is lost
    /// (<see cref="FakeAccountCounters.AnswersLost"/>). Unlike <see cref="Delay"/>, nothing waits before the rotation.
    /// </summary>
    /// <param name="answerAfter">How long the answer takes after the rotation (on top of the latency).</param>
    /// <returns>The fault.</returns>
    public static FakeFault RotateOnReceipt(TimeSpan answerAfter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(answerAfter, TimeSpan.Zero);
        return new RotateOnReceiptFault(answerAfter);
    }

    /// <summary>403 with the CDN's HTML body containing "error code: 1010" (a transient refusal, not policy).</summary>
    public static FakeFault CdnForbidden { get; } = new CdnForbiddenFault();

    /// <summary>403 <c>{"type":"error","error":{"type":"permission_error","message":…}}</c>: an organisation policy refusal.</summary>
    /// <param name="message">The message of the error.</param>
    /// <returns>The fault.</returns>
    public static FakeFault PolicyForbidden(string message = "OAuth authentication is currently not allowed for this organization.")
        => new PolicyForbiddenFault(message);

    /// <summary>400 <c>invalid_grant</c> with the given description; the refresh token is not consumed.</summary>
    /// <param name="description">The <c>error_description</c>.</param>
    /// <returns>The fault.</returns>
    public static FakeFault InvalidGrant(string description = "Refresh token not found or invalid") => new InvalidGrantFault(description);

    /// <summary>200 with a body that is not valid JSON; the refresh token is not consumed.</summary>
    public static FakeFault MalformedJson { get; } = new MalformedJsonFault();

    /// <summary>
    /// A success without <c>refresh_token</c> in the body: a new access token is issued and the presented refresh token
    /// stays valid. A consumed or unknown refresh token still gets <c>invalid_grant</c>.
    /// </summary>
    public static FakeFault NoRotation { get; } = new NoRotationFault();

    /// <summary>400 with another OAuth error, e.g. <c>invalid_request</c> or <c>invalid_scope</c>.</summary>
    /// <param name="error">The <c>error</c> code.</param>
    /// <param name="description">The <c>error_description</c>.</param>
    /// <returns>The fault.</returns>
    public static FakeFault BadRequest(string error, string description)
    {
        ArgumentException.ThrowIfNullOrEmpty(error);
        ArgumentNullException.ThrowIfNull(description);
        return new BadRequestFault(error, description);
    }
}

internal sealed record RateLimitedFault(TimeSpan? RetryAfter, DateTimeOffset? Until, int? RetryAfterMs) : FakeFault;

internal sealed record ServerErrorFault(int Status) : FakeFault;

internal sealed record DelayFault(TimeSpan Duration) : FakeFault;

internal sealed record AfterFault(TimeSpan Wait, FakeFault Answer) : FakeFault;

internal sealed record HangFault : FakeFault;

internal sealed record ConnectionResetFault : FakeFault;

internal sealed record RotateThenResetFault : FakeFault;

internal sealed record RotateOnReceiptFault(TimeSpan AnswerAfter) : FakeFault;

internal sealed record CdnForbiddenFault : FakeFault;

internal sealed record PolicyForbiddenFault(string Message) : FakeFault;

internal sealed record InvalidGrantFault(string Description) : FakeFault;

internal sealed record MalformedJsonFault : FakeFault;

internal sealed record NoRotationFault : FakeFault;

internal sealed record BadRequestFault(string Error, string Description) : FakeFault;
