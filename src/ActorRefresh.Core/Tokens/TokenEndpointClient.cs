using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Http;
using ActorRefresh.Core.Providers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Tokens;

/// <summary>
/// The one place a refresh token goes on the wire. One request per call, no retries (the account owns
/// the retry policy), every result classified by <see cref="RefreshResponseClassifier"/>.
/// </summary>
internal sealed partial class TokenEndpointClient : ITokenEndpointClient
{
    /// <summary>Name of the <see cref="IHttpClientFactory"/> client used for token requests.</summary>
    public const string HttpClientName = "ActorRefresh.TokenEndpoint";

    /// <summary>Longest token answer read; anything larger is cut off (and then fails to parse).</summary>
    internal const int MaxBodyBytes = ProviderExchange.MaxBodyBytes;

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly TimeProvider _timeProvider;
    private readonly RetryAfterLimits _limits;
    private readonly ILogger<TokenEndpointClient> _logger;

    public TokenEndpointClient(IHttpClientFactory httpClientFactory, TimeProvider timeProvider, IOptions<BackoffOptions> backoff, ILogger<TokenEndpointClient> logger)
    {
        _httpClientFactory = httpClientFactory;
        _timeProvider = timeProvider;
        _limits = new RetryAfterLimits { Min = backoff.Value.RetryAfterMin, Max = backoff.Value.RetryAfterMax };
        _logger = logger;
    }

    public async Task<RefreshOutcome> RefreshAsync(ProviderProfile provider, Secret refreshToken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(refreshToken);
        if (provider.TokenEndpoint is null)
            throw new ArgumentException($"ActorRefresh:Providers:{provider.Name}:TokenEndpoint is required.", nameof(provider));
        using var request = BuildRequest(provider, refreshToken);
        var client = _httpClientFactory.CreateClient(HttpClientName);
        var started = _timeProvider.GetTimestamp();
        var (outcome, status) = await ProviderExchange.SendAsync<RefreshOutcome>(
            client, request, provider.RequestTimeout, _timeProvider, refreshToken,
            (code, headers, body) => RefreshResponseClassifier.Classify(code, headers, body, refreshToken, _timeProvider.GetUtcNow(), _limits),
            (reason, mayBeLost) => new RefreshOutcome.Transient(reason, AnswerMayBeLost: mayBeLost),
            cancellationToken).ConfigureAwait(false);

        var elapsed = _timeProvider.GetElapsedTime(started);
        if (outcome is RefreshOutcome.Refreshed or RefreshOutcome.RateLimited)
            LogOutcome(provider.Name, refreshToken.Fingerprint, outcome.Kind, status, elapsed.TotalMilliseconds);
        else
            LogFailure(provider.Name, refreshToken.Fingerprint, outcome.Kind, status, elapsed.TotalMilliseconds, Describe(outcome));
        return outcome;
    }

    /// <summary>Builds the <c>refresh_token</c> grant request for <paramref name="provider"/>.</summary>
    internal static HttpRequestMessage BuildRequest(ProviderProfile provider, Secret refreshToken)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "refresh_token"),
            new("refresh_token", refreshToken.Reveal()),
            new("client_id", provider.ClientId),
        };
        if (provider.Scope is not null)
            fields.Add(new("scope", provider.Scope));
        return BuildRequest(provider, fields);
    }

    /// <summary>A token endpoint request with <paramref name="fields"/> in the provider's body format, client authentication and headers.</summary>
    internal static HttpRequestMessage BuildRequest(ProviderProfile provider, List<KeyValuePair<string, string>> fields)
    {
        var secret = string.IsNullOrEmpty(provider.ClientSecret) ? null : provider.ClientSecret;
        if (secret is not null && provider.ClientAuth == ClientAuthMethod.Post)
            fields.Add(new("client_secret", secret));

        var request = new HttpRequestMessage(HttpMethod.Post, provider.TokenEndpoint)
        {
            Content = provider.BodyFormat == TokenBodyFormat.Json ? JsonBody(fields) : new FormUrlEncodedContent(fields),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        // Without validation: a configured User-Agent is sent verbatim even if HttpClient's parser dislikes it.
        if (!string.IsNullOrWhiteSpace(provider.UserAgent))
            request.Headers.TryAddWithoutValidation("User-Agent", provider.UserAgent);
        if (secret is not null && provider.ClientAuth == ClientAuthMethod.Basic)
        {
            // RFC 6749 2.3.1: id and secret are form-urlencoded before the Basic encoding.
            var pair = $"{WebUtility.UrlEncode(provider.ClientId)}:{WebUtility.UrlEncode(secret)}";
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(pair)));
        }
        foreach (var (name, value) in provider.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
                request.Content.Headers.TryAddWithoutValidation(name, value);
        }
        return request;
    }

    private static ByteArrayContent JsonBody(List<KeyValuePair<string, string>> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in fields)
                writer.WriteString(name, value);
            writer.WriteEndObject();
        }
        var content = new ByteArrayContent(buffer.WrittenSpan.ToArray());
        // Plain application/json, as working Claude clients send it.
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static string Describe(RefreshOutcome outcome) => outcome switch
    {
        RefreshOutcome.Transient t => t.Reason,
        RefreshOutcome.PolicyRefused p => p.Message,
        RefreshOutcome.GrantRejected g => g.Description is null ? g.Error : $"{g.Error}: {g.Description}",
        RefreshOutcome.Rejected r => r.Message,
        _ => outcome.Kind,
    };

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Token refresh for provider {Provider} (refresh token {TokenFingerprint}): {Outcome}, HTTP {Status}, {ElapsedMs:0} ms")]
    private partial void LogOutcome(string provider, string tokenFingerprint, string outcome, int? status, double elapsedMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "Token refresh for provider {Provider} (refresh token {TokenFingerprint}) failed: {Outcome}, HTTP {Status}, {ElapsedMs:0} ms: {Reason}")]
    private partial void LogFailure(string provider, string tokenFingerprint, string outcome, int? status, double elapsedMs, string reason);
}
