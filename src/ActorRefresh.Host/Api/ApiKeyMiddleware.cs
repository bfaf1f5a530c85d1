using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Requires <c>Authorization: Bearer &lt;key&gt;</c> on <c>/v1/*</c> and on the status page <c>/</c>.
/// The key is never accepted from the query string: URLs end up in proxy logs and browser history.
/// Health, readiness and metrics stay open so probes and scrapers need no secret.
/// Without a configured key (loopback only, see <see cref="ListenGuard"/>) a protected request must pass
/// <see cref="LocalRequestRules.RefusalWithoutKey"/>. Either way a request body must be JSON (<see cref="LocalRequestRules.RefusalOfBody"/>).
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, IOptions<ApiOptions> options)
{
    // Hashing both sides first makes the comparison constant-time in the key length too.
    private readonly byte[]? _keyHash = options.Value.HasKey
        ? SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.Key!.Trim()))
        : null;

    public static bool IsProtected(PathString path) =>
        path == "/" || path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        if (!IsProtected(context.Request.Path))
            return next(context);

        if (_keyHash is null)
        {
            if (LocalRequestRules.RefusalWithoutKey(context.Request, context.Connection.RemoteIpAddress) is { } refusal)
                return Problems.Create(StatusCodes.Status403Forbidden, "Forbidden", refusal).ExecuteAsync(context);
        }
        else if (!Matches(context.Request.Headers.Authorization.ToString()))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return Problems.Create(StatusCodes.Status401Unauthorized, "Unauthorized",
                "This endpoint needs 'Authorization: Bearer <key>' with the key configured as ActorRefresh:Api:Key.")
                .ExecuteAsync(context);
        }

        if (LocalRequestRules.RefusalOfBody(context.Request) is { } bodyRefusal)
            return Problems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", bodyRefusal).ExecuteAsync(context);
        return next(context);
    }

    private bool Matches(string header)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _keyHash);
    }
}
