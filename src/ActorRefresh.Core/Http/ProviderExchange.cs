using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Http;

/// <summary>
/// One request to a provider endpoint (token or usage), shared by both clients: the profile's timeout on the
/// injected clock, a body read up to a size limit into a cleared pooled buffer, and every way the exchange can fail
/// turned into a transient reason with the secret scrubbed out. Only the caller's cancellation escapes as an exception;
/// a failure whose cause is unknown counts as "the answer may be lost" (the safe assumption for a refresh token).
/// </summary>
internal static class ProviderExchange
{
    /// <summary>Provider answers are small; anything larger is cut off (and then fails to parse) rather than buffered whole.</summary>
    internal const int MaxBodyBytes = 64 * 1024;

    /// <summary>
    /// Sends <paramref name="request"/> and classifies the answer with <paramref name="classify"/>, or the failure
    /// with <paramref name="transient"/> (its flag: the request may have been processed although its answer was lost).
    /// Returns the outcome and the HTTP status when there was one.
    /// </summary>
    public static async Task<(T Outcome, int? Status)> SendAsync<T>(
        HttpClient client,
        HttpRequestMessage request,
        TimeSpan requestTimeout,
        TimeProvider time,
        Secret secret,
        Func<int, HttpResponseHeaders, string, T> classify,
        Func<string, bool, T> transient,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // The timeout runs on the injected clock so tests (and virtual time) control it.
        using var timeout = new CancellationTokenSource(requestTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        int? status = null;
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            status = (int)response.StatusCode;
            var body = await ReadBodyAsync(response.Content, linked.Token).ConfigureAwait(false);
            return (classify(status.Value, response.Headers, body), status);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return (transient($"timeout after {requestTimeout.TotalSeconds:0.###} s", true), status);
        }
        catch (OperationCanceledException)
        {
            // Cancelled by neither the caller nor our timeout (a handler gave up): still a transient failure.
            return (transient("request cancelled by the HTTP stack", true), status);
        }
        catch (HttpRequestException ex)
        {
            // A connection that never opened cannot have spent anything; any later failure may have.
            var neverSent = ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError;
            return (transient(Scrubbed($"connection failure ({ex.HttpRequestError}): {ex.Message}", secret), !neverSent), status);
        }
        catch (IOException ex)
        {
            return (transient(Scrubbed($"connection failure while reading the answer: {ex.Message}", secret), true), status);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Anything else (a corrupt compressed body, a handler's own failure) happened after the request may have
            // reached the provider: count the answer as possibly lost, so a rotated refresh token is never forgotten.
            var at = status is { } code ? $"reading the answer (HTTP {code})" : "sending the request";
            return (transient(Scrubbed($"unexpected failure while {at}: {ex.GetType().Name}: {ex.Message}", secret), true), status);
        }
    }

    private static async Task<string> ReadBodyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(MaxBodyBytes);
            try
            {
                var total = 0;
                int read;
                while (total < MaxBodyBytes && (read = await stream.ReadAsync(buffer.AsMemory(total, MaxBodyBytes - total), cancellationToken).ConfigureAwait(false)) > 0)
                    total += read;
                // Provider bodies are JSON, which is UTF-8 by definition (RFC 8259).
                return Encoding.UTF8.GetString(buffer, 0, total);
            }
            finally
            {
                // The buffer held token text; clear it before another renter sees it.
                ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            }
        }
    }

    private static string Scrubbed(string message, Secret secret) =>
        TokenScrubber.Tidy(TokenScrubber.Scrub(message, [secret.Reveal()]), RefreshResponseClassifier.MaxMessageLength);
}
