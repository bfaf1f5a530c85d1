using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ActorRefresh.Host.Cli;

/// <summary>A failed call, described in one line (from the problem body when there is one).</summary>
internal sealed class CliException(string message) : Exception(message);

/// <summary>Talks to a running <c>serve</c>. Returns raw JSON so <c>--json</c> can print it unchanged.</summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _server;

    public ApiClient(Uri server, string? apiKey, HttpMessageHandler? handler = null)
    {
        _server = server;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = server;
        _http.Timeout = TimeSpan.FromSeconds(30);
        if (!string.IsNullOrWhiteSpace(apiKey))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey.Trim());
    }

    public Task<string> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);

    public Task<string> PostAsync(string path, string? json, CancellationToken ct) => SendAsync(HttpMethod.Post, path, json, ct);

    /// <summary>A POST whose success statuses differ in meaning (200 against 202): answers the status with the body.</summary>
    public Task<(int Status, string Body)> PostForStatusAsync(string path, string? json, CancellationToken ct) => SendForStatusAsync(HttpMethod.Post, path, json, ct);

    private async Task<string> SendAsync(HttpMethod method, string path, string? json, CancellationToken ct) =>
        (await SendForStatusAsync(method, path, json, ct).ConfigureAwait(false)).Body;

    private async Task<(int Status, string Body)> SendForStatusAsync(HttpMethod method, string path, string? json, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (json is not null)
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException exception)
        {
            throw new CliException($"cannot reach {_server}: {exception.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException($"{_server} did not answer within {_http.Timeout.TotalSeconds:0} s");
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
                return ((int)response.StatusCode, body);
            throw new CliException($"{(int)response.StatusCode} {response.ReasonPhrase}: {Describe(body)}");
        }
    }

    private static string Describe(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            foreach (var name in (string[])["detail", "reason", "title"])
            {
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
                    return OneLine(value.GetString()!);
            }
        }
        catch (JsonException)
        {
            // Not a problem document; fall through to a generic description.
        }
        return string.IsNullOrWhiteSpace(body) ? "no details" : OneLine(body.Length > 200 ? body[..200] : body);
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    public void Dispose() => _http.Dispose();
}
