using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Api;

/// <summary>Reads JSON bodies with messages fit for a 400 answer (no type names, no values, no stack).</summary>
internal static class RequestBodies
{
    /// <exception cref="BadRequestBodyException">Empty, malformed or wrongly typed body.</exception>
    public static async Task<T> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken) where T : class
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(request.Body, ApiJson.Options, cancellationToken).ConfigureAwait(false);
            return body ?? throw new BadRequestBodyException("The body must be a JSON object.");
        }
        catch (JsonException exception)
        {
            var where = string.IsNullOrEmpty(exception.Path) || exception.Path == "$" ? "" : $" (at {exception.Path})";
            throw new BadRequestBodyException($"The body is not valid JSON for this endpoint{where}.");
        }
    }

    public static string RequireText(string? value, string field) =>
        string.IsNullOrWhiteSpace(value) ? throw new BadRequestBodyException($"'{field}' is required.") : value;
}
