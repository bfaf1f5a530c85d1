using System.Net;
using System.Net.Http.Headers;

namespace ActorRefresh.Hosting.Http;

/// <summary>
/// Puts <c>Authorization: Bearer &lt;token&gt;</c> for one account on every outgoing request, with the
/// token from <see cref="ITokenProvider"/>. When the API answers 401 the handler reports exactly the
/// token it sent as rejected (so a stale report cannot trigger a second refresh) and retries the
/// request once with the token the provider hands out next.
/// </summary>
/// <remarks>
/// Request content is buffered before the first send so that the retry can send it again.
/// Failures of the provider (<see cref="TokenBackingOffException"/>, <see cref="AccountBlockedException"/>, …)
/// propagate to the caller unchanged.
/// </remarks>
public sealed class BearerTokenHandler : DelegatingHandler
{
    private readonly ITokenProvider _tokens;
    private readonly string _accountId;

    /// <summary>Creates a handler that authenticates as <paramref name="accountId"/>.</summary>
    /// <param name="tokens">Where tokens come from.</param>
    /// <param name="accountId">The account whose tokens are sent.</param>
    /// <exception cref="ArgumentException"><paramref name="accountId"/> is empty.</exception>
    public BearerTokenHandler(ITokenProvider tokens, string accountId)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentException.ThrowIfNullOrWhiteSpace(accountId);
        _tokens = tokens;
        _accountId = accountId;
    }

    /// <summary>The account this handler authenticates as.</summary>
    public string AccountId => _accountId;

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Content is not null)
            await request.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);

        var sent = await AuthorizeAsync(request, cancellationToken).ConfigureAwait(false);
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
            return response;

        // Name the token we sent, not "the current one": if another caller already caused a
        // refresh, the engine answers with the newer token and does not refresh again.
        await _tokens.ReportRejectedAsync(_accountId, sent, cancellationToken).ConfigureAwait(false);
        var retry = await CloneAsync(request, cancellationToken).ConfigureAwait(false);
        var again = await AuthorizeAsync(retry, cancellationToken).ConfigureAwait(false);
        if (string.Equals(again, sent, StringComparison.Ordinal))
            return response; // no new token to try: a retry would only be refused again

        response.Dispose();
        return await base.SendAsync(retry, cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> AuthorizeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var token = await _tokens.GetTokenAsync(_accountId, cancellationToken).ConfigureAwait(false);
        var value = token.Value.Reveal();
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", value);
        return value;
    }

    // A sent HttpRequestMessage cannot be sent again, so the retry is a copy over the buffered content.
    private static async Task<HttpRequestMessage> CloneAsync(HttpRequestMessage original, CancellationToken cancellationToken)
    {
        var copy = new HttpRequestMessage(original.Method, original.RequestUri)
        {
            Version = original.Version,
            VersionPolicy = original.VersionPolicy,
        };
        foreach (var header in original.Headers)
        {
            if (!string.Equals(header.Key, "Authorization", StringComparison.OrdinalIgnoreCase))
                copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
        foreach (var option in original.Options)
            ((IDictionary<string, object?>)copy.Options)[option.Key] = option.Value;

        if (original.Content is not null)
        {
            var bytes = await original.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            var content = new ByteArrayContent(bytes);
            foreach (var header in original.Content.Headers)
                content.Headers.TryAddWithoutValidation(header.Key, header.Value);
            copy.Content = content;
        }
        return copy;
    }
}
