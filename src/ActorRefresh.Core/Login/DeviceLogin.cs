using System.Globalization;
using System.Text.Json;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Http;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Login;

/// <summary>
/// A device authorization (RFC 8628 section 3.2): what the user is shown, and the device code the poll sends. Printing it
/// shows the user code and URLs, never the device code.
/// </summary>
/// <param name="DeviceCode">The device code (kept by the server, never shown).</param>
/// <param name="UserCode">The code the user types at <paramref name="VerificationUri"/>.</param>
/// <param name="VerificationUri">Where the user goes.</param>
/// <param name="VerificationUriComplete">The same with the user code in it, when the provider gives one.</param>
/// <param name="ExpiresAt">When the device code expires.</param>
/// <param name="Interval">Time between polls the provider asks for (5 s when it names none).</param>
internal sealed record DeviceAuthorization(Secret DeviceCode, string UserCode, Uri VerificationUri, Uri? VerificationUriComplete, DateTimeOffset ExpiresAt, TimeSpan Interval);

/// <summary>How a device login ended when it did not give tokens.</summary>
/// <param name="Kind">A short name for traces: <c>access_denied</c>, <c>expired_token</c>, <c>no_refresh_token</c>, or the refused answer's <see cref="RefreshOutcome.Kind"/>.</param>
/// <param name="Reason">One line for the operator, naming the provider's error code.</param>
/// <param name="Outcome">The classified answer when the provider answered something other than the device errors.</param>
internal sealed record DeviceLoginFailure(string Kind, string Reason, RefreshOutcome? Outcome = null);

/// <summary>The device authorization grant (RFC 8628): asks for a user code, then polls the token endpoint by its rules.</summary>
internal sealed class DeviceLoginClient(IHttpClientFactory clients, TimeProvider time, IOptions<BackoffOptions> backoff)
{
    /// <summary>Grant type of the device code token request (RFC 8628 section 3.4).</summary>
    public const string GrantType = "urn:ietf:params:oauth:grant-type:device_code";

    /// <summary>Polling interval when the provider names none, and the increase <c>slow_down</c> asks for (section 3.5).</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(5);

    private readonly RetryAfterLimits _limits = new() { Min = backoff.Value.RetryAfterMin, Max = backoff.Value.RetryAfterMax };

    /// <summary>Asks the device authorization endpoint for a user code; a failure is a one-line reason.</summary>
    public async Task<(DeviceAuthorization? Authorization, string? Failure)> StartAsync(ProviderProfile provider, CancellationToken cancellationToken)
    {
        if (provider.DeviceAuthorizationEndpoint is null)
            return (null, $"provider '{provider.Name}' has no device login: set ActorRefresh:Providers:{provider.Name}:DeviceAuthorizationEndpoint");
        var fields = new List<KeyValuePair<string, string>> { new("client_id", provider.ClientId) };
        if ((provider.LoginScope ?? provider.Scope) is { Length: > 0 } scope) fields.Add(new("scope", scope));
        using var request = TokenEndpointClient.BuildRequest(provider, fields);
        request.RequestUri = provider.DeviceAuthorizationEndpoint;
        var (result, _) = await ProviderExchange.SendAsync<(DeviceAuthorization?, string?)>(
            clients.CreateClient(TokenEndpointClient.HttpClientName), request, provider.RequestTimeout, time, new Secret("-"),
            (status, _, body) => ParseAuthorization(status, body),
            (reason, _) => (null, $"the device authorization endpoint could not be reached: {reason}"),
            cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Polls until the user approves, denies, or the code expires: waits <c>interval</c> before each request, adds 5 s on
    /// <c>slow_down</c>, keeps waiting on <c>authorization_pending</c>. Time comes from the injected clock.
    /// </summary>
    public async Task<(RefreshOutcome.Refreshed? Tokens, DeviceLoginFailure? Failure)> PollAsync(ProviderProfile provider, DeviceAuthorization authorization, CancellationToken cancellationToken)
    {
        var interval = authorization.Interval;
        while (true)
        {
            await Task.Delay(interval, time, cancellationToken).ConfigureAwait(false);
            if (time.GetUtcNow() >= authorization.ExpiresAt)
                return (null, new DeviceLoginFailure("expired_token", "the user code expired before the user approved it (expired_token); start another login"));
            var fields = new List<KeyValuePair<string, string>>
            {
                new("grant_type", GrantType),
                new("device_code", authorization.DeviceCode.Reveal()),
                new("client_id", provider.ClientId),
            };
            using var request = TokenEndpointClient.BuildRequest(provider, fields);
            var (poll, _) = await ProviderExchange.SendAsync<(string? Error, RefreshOutcome Outcome)>(
                clients.CreateClient(TokenEndpointClient.HttpClientName), request, provider.RequestTimeout, time, authorization.DeviceCode,
                (status, headers, body) => (DeviceError(status, body), RefreshResponseClassifier.Classify(status, headers, body, authorization.DeviceCode, time.GetUtcNow(), _limits)),
                (reason, mayBeLost) => (null, new RefreshOutcome.Transient(reason, AnswerMayBeLost: mayBeLost)),
                cancellationToken).ConfigureAwait(false);
            switch (poll.Error, poll.Outcome)
            {
                case ("authorization_pending", _):
                    continue;
                case ("slow_down", _):
                    interval += DefaultInterval;
                    continue;
                case ("access_denied", _):
                    return (null, new DeviceLoginFailure("access_denied", "the user denied the login (access_denied)"));
                case ("expired_token", _):
                    return (null, new DeviceLoginFailure("expired_token", "the user code expired before the user approved it (expired_token); start another login"));
                case (_, RefreshOutcome.Refreshed { RefreshToken: not null } tokens):
                    return (tokens, null);
                case (_, RefreshOutcome.Refreshed):
                    return (null, new DeviceLoginFailure("no_refresh_token", "the provider answered without a refresh token"));
                case (_, RefreshOutcome.Transient):
                    // A lost answer or a 5xx: RFC 8628 section 3.5 leaves the client to keep polling, at the same pace.
                    continue;
                case (_, RefreshOutcome.RateLimited):
                    interval += DefaultInterval;
                    continue;
                default:
                    return (null, new DeviceLoginFailure(poll.Outcome.Kind, $"the provider refused the device login ({poll.Error ?? poll.Outcome.Kind})", poll.Outcome));
            }
        }
    }

    private static string? DeviceError(int status, string body)
    {
        if (status is not (400 or 401)) return null;
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String
                ? e.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private (DeviceAuthorization?, string?) ParseAuthorization(int status, string body)
    {
        string Failed(string why) => $"the device authorization endpoint answered HTTP {status}: {why}";
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return (null, Failed("not JSON"));
        }
        using (json)
        {
            var o = json.RootElement;
            if (o.ValueKind != JsonValueKind.Object) return (null, Failed("not a JSON object"));
            if (status is < 200 or >= 300)
                return (null, Failed(RefreshResponseClassifier.ErrorType(o) ?? "no error code"));
            string? Text(string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            double? Seconds(string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) ? d
                : o.TryGetProperty(name, out var s) && s.ValueKind == JsonValueKind.String && double.TryParse(s.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) ? p : null;
            if (Text("device_code") is not { Length: > 0 } deviceCode) return (null, Failed("no device_code"));
            if (Text("user_code") is not { Length: > 0 } userCode) return (null, Failed("no user_code"));
            // RFC 8628 names it verification_uri; some providers (Google) say verification_url.
            if (!Uri.TryCreate(Text("verification_uri") ?? Text("verification_url"), UriKind.Absolute, out var verification))
                return (null, Failed("no absolute verification_uri"));
            if (Seconds("expires_in") is not { } expires || expires is <= 0 or >= 86400) return (null, Failed("no valid expires_in"));
            var complete = Uri.TryCreate(Text("verification_uri_complete"), UriKind.Absolute, out var c) ? c : null;
            var interval = Seconds("interval") is { } i and >= 1 and <= 300 ? TimeSpan.FromSeconds(i) : DefaultInterval;
            return (new DeviceAuthorization(new Secret(deviceCode), userCode, verification, complete, time.GetUtcNow().AddSeconds(expires), interval), null);
        }
    }
}
