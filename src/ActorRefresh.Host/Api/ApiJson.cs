using System.Text.Json;
using System.Text.Json.Serialization;

namespace ActorRefresh.Host.Api;

/// <summary>JSON shape of the API: camelCase, enums by name. The CLI reads with the same options.</summary>
internal static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter());
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        return options;
    }
}

/// <summary>Body of <c>GET /v1/accounts/{id}/token</c>: the only answer that carries a token, and only an access token.</summary>
internal sealed record TokenResponse(string AccessToken, DateTimeOffset ExpiresAt);

/// <summary>Body of <c>POST /v1/accounts</c>.</summary>
internal sealed class RegisterRequest
{
    public string? Id { get; set; }
    public string? Provider { get; set; }
    public string? RefreshToken { get; set; }
    public string? AccessToken { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
}

/// <summary>Body of <c>POST /v1/accounts/{id}/rejected</c>.</summary>
internal sealed class RejectedRequest
{
    public string? AccessToken { get; set; }
}

/// <summary>Body of <c>POST /v1/accounts/{id}/block</c>.</summary>
internal sealed class BlockRequest
{
    public string? Reason { get; set; }
}
