using System.Security.Cryptography;
using System.Text;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Http;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Login;

/// <summary>
/// The start of one login: the URL the user opens, and the PKCE verifier and <c>state</c> the exchange needs. Printing
/// it shows the URL (which carries only the challenge) and the verifier's fingerprint.
/// </summary>
/// <param name="AuthorizeUrl">The authorization URL with the S256 challenge and the state.</param>
/// <param name="Verifier">The PKCE code verifier (kept by the server, never shown).</param>
/// <param name="State">The state value the answer must carry back.</param>
/// <param name="RedirectUri">The redirect URI the URL names; the code exchange must send the same.</param>
internal sealed record LoginStart(Uri AuthorizeUrl, Secret Verifier, string State, Uri RedirectUri);

/// <summary>
/// Authorization code with PKCE (RFC 7636, S256) and <c>state</c>, as public clients of the Claude endpoints log in: the
/// user opens the URL, logs in, and pastes back <c>code#state</c> (or the whole callback URL); the code is exchanged at
/// the token endpoint for the first token pair.
/// </summary>
internal static class AuthorizationCodeLogin
{
    /// <summary>
    /// Starts a login with <paramref name="provider"/>, redirecting to <paramref name="redirectUri"/> (a loopback listener,
    /// RFC 8252) or else to the profile's <c>RedirectUri</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The profile has no <c>AuthorizeEndpoint</c>, or there is no redirect URI.</exception>
    public static LoginStart Start(ProviderProfile provider, Uri? redirectUri = null)
    {
        redirectUri ??= provider.RedirectUri;
        if (provider.AuthorizeEndpoint is null || redirectUri is null)
            throw new InvalidOperationException($"ActorRefresh:Providers:{provider.Name}:AuthorizeEndpoint and a redirect URI are needed to log in with this provider.");
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        var challenge = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        var state = Base64Url(RandomNumberGenerator.GetBytes(24));
        var query = new List<KeyValuePair<string, string>>(provider.AuthorizeParameters)
        {
            new("client_id", provider.ClientId),
            new("response_type", "code"),
            new("redirect_uri", redirectUri.ToString()),
            new("scope", provider.LoginScope ?? provider.Scope ?? ""),
            new("code_challenge", challenge),
            new("code_challenge_method", "S256"),
            new("state", state),
        };
        var separator = provider.AuthorizeEndpoint.Query.Length > 0 ? "&" : "?";
        var url = provider.AuthorizeEndpoint + separator + string.Join("&", query.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));
        return new LoginStart(new Uri(url), new Secret(verifier), state, redirectUri);
    }

    /// <summary>
    /// The code and state in what the user pasted: <c>code#state</c>, or a callback URL with <c>code</c> and
    /// <c>state</c> query parameters. False when neither shape is there.
    /// </summary>
    public static bool TryParsePasted(string? pasted, out string code, out string? state)
    {
        code = "";
        state = null;
        var text = pasted?.Trim() ?? "";
        if (text.Length == 0) return false;
        if (Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
        {
            var query = System.Web.HttpUtility.ParseQueryString(url.Query);
            if (query["code"] is not { Length: > 0 } fromUrl) return false;
            code = fromUrl;
            state = query["state"];
            return true;
        }
        var hash = text.IndexOf('#', StringComparison.Ordinal);
        code = hash < 0 ? text : text[..hash];
        state = hash < 0 ? null : text[(hash + 1)..];
        return code.Length > 0 && !code.Any(char.IsWhiteSpace);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Exchanges an authorization code at the provider's token endpoint; the answer is classified as a refresh's is.</summary>
internal sealed class CodeExchangeClient(IHttpClientFactory clients, TimeProvider time, IOptions<BackoffOptions> backoff)
{
    private readonly RetryAfterLimits _limits = new() { Min = backoff.Value.RetryAfterMin, Max = backoff.Value.RetryAfterMax };

    /// <summary>One <c>authorization_code</c> grant for a started login; never throws for what the provider does.</summary>
    public Task<RefreshOutcome> ExchangeAsync(ProviderProfile provider, string code, LoginStart start, CancellationToken cancellationToken) =>
        ExchangeAsync(provider, code, start.State, start.Verifier, start.RedirectUri, cancellationToken);

    /// <summary>One <c>authorization_code</c> grant with the PKCE verifier, redirect URI from the profile.</summary>
    public Task<RefreshOutcome> ExchangeAsync(ProviderProfile provider, string code, string state, Secret verifier, CancellationToken cancellationToken) =>
        ExchangeAsync(provider, code, state, verifier, provider.RedirectUri!, cancellationToken);

    private async Task<RefreshOutcome> ExchangeAsync(ProviderProfile provider, string code, string state, Secret verifier, Uri redirectUri, CancellationToken cancellationToken)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "authorization_code"),
            new("code", code),
            new("client_id", provider.ClientId),
            new("redirect_uri", redirectUri.ToString()),
            new("code_verifier", verifier.Reveal()),
        };
        // Claude's endpoint takes the state in its JSON body; RFC 6749 providers do not expect it.
        if (provider.BodyFormat == TokenBodyFormat.Json) fields.Add(new("state", state));
        using var request = TokenEndpointClient.BuildRequest(provider, fields);
        var sent = new Secret(code);
        var (outcome, _) = await ProviderExchange.SendAsync<RefreshOutcome>(
            clients.CreateClient(TokenEndpointClient.HttpClientName), request, provider.RequestTimeout, time, sent,
            (status, headers, body) => RefreshResponseClassifier.Classify(status, headers, body, sent, time.GetUtcNow(), _limits),
            (reason, mayBeLost) => new RefreshOutcome.Transient(reason, AnswerMayBeLost: mayBeLost),
            cancellationToken).ConfigureAwait(false);
        return outcome;
    }
}
