using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Http;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Usage;

/// <summary>
/// The one place an access token goes to the usage endpoint. One request per call, no retries, every result
/// classified by <see cref="UsageResponseClassifier"/>.
/// </summary>
internal sealed partial class UsageClient : IUsageClient
{
    /// <summary>Name of the <see cref="IHttpClientFactory"/> client used for usage requests.</summary>
    public const string HttpClientName = "ActorRefresh.Usage";

    /// <summary>Longest usage answer read; anything larger is cut off (and then fails to parse).</summary>
    internal const int MaxBodyBytes = ProviderExchange.MaxBodyBytes;

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly TimeProvider _timeProvider;
    private readonly RetryAfterLimits _limits;
    private readonly ILogger<UsageClient> _logger;

    public UsageClient(IHttpClientFactory httpClientFactory, TimeProvider timeProvider, IOptions<BackoffOptions> backoff, ILogger<UsageClient> logger)
    {
        _httpClientFactory = httpClientFactory;
        _timeProvider = timeProvider;
        _limits = new RetryAfterLimits { Min = backoff.Value.RetryAfterMin, Max = backoff.Value.RetryAfterMax };
        _logger = logger;
    }

    public async Task<UsageOutcome> CheckAsync(ProviderProfile provider, Secret accessToken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(accessToken);
        if (provider.UsageEndpoint is null)
            throw new ArgumentException($"ActorRefresh:Providers:{provider.Name}:UsageEndpoint is not set.", nameof(provider));
        using var request = BuildRequest(provider, accessToken);
        var client = _httpClientFactory.CreateClient(HttpClientName);
        var started = _timeProvider.GetTimestamp();
        var (outcome, status) = await ProviderExchange.SendAsync<UsageOutcome>(
            client, request, provider.RequestTimeout, _timeProvider, accessToken,
            (code, headers, body) => UsageResponseClassifier.Classify(code, headers, body, accessToken, _timeProvider.GetUtcNow(), _limits),
            (reason, _) => new UsageOutcome.QuotaCheckTransient(reason),
            cancellationToken).ConfigureAwait(false);

        var elapsed = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        if (outcome is UsageOutcome.QuotaObserved)
            LogOutcome(provider.Name, accessToken.Fingerprint, outcome.Kind, status, elapsed);
        else
            LogFailure(provider.Name, accessToken.Fingerprint, outcome.Kind, status, elapsed, Describe(outcome));
        return outcome;
    }

    /// <summary>Builds the GET request: bearer token, JSON accept, the profile's User-Agent and usage headers.</summary>
    internal static HttpRequestMessage BuildRequest(ProviderProfile provider, Secret accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, provider.UsageEndpoint);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken.Reveal());
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (!string.IsNullOrWhiteSpace(provider.UserAgent))
            request.Headers.TryAddWithoutValidation("User-Agent", provider.UserAgent);
        foreach (var (name, value) in provider.UsageHeaders)
            request.Headers.TryAddWithoutValidation(name, value);
        return request;
    }

    private static string Describe(UsageOutcome outcome) => outcome switch
    {
        UsageOutcome.QuotaCheckTransient t => t.Reason,
        UsageOutcome.PolicyRefused p => p.Message,
        UsageOutcome.ScopeMissing m => $"the token lacks scope {m.Scope}: {m.Message}",
        UsageOutcome.AccessTokenRejected a => a.Message,
        UsageOutcome.QuotaCheckRateLimited r => r.RetryAt is { } at ? $"retry after {at:O}" : "no Retry-After",
        _ => outcome.Kind,
    };

    [LoggerMessage(EventId = 11, Level = LogLevel.Debug,
        Message = "Usage check for provider {Provider} (access token {TokenFingerprint}): {Outcome}, HTTP {Status}, {ElapsedMs:0} ms")]
    private partial void LogOutcome(string provider, string tokenFingerprint, string outcome, int? status, double elapsedMs);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning,
        Message = "Usage check for provider {Provider} (access token {TokenFingerprint}) failed: {Outcome}, HTTP {Status}, {ElapsedMs:0} ms: {Reason}")]
    private partial void LogFailure(string provider, string tokenFingerprint, string outcome, int? status, double elapsedMs, string reason);
}
