using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Requires <c>Authorization: Bearer &lt;key&gt;</c> on <c>/v1/*</c> and on the status page <c>/</c>.
/// The key is never accepted from the query string: URLs end up in proxy logs and browser history.
/// Health, readiness and metrics stay open so probes and scrapers need no secret.
/// Without a configured key (loopback only, see <see cref="ListenGuard"/>) a protected request must pass
/// <see cref="LocalRequestRules.RefusalWithoutKey"/>. Either way a request body must be JSON (<see cref="LocalRequestRules.RefusalOfBody"/>),
/// protected answers are never stored by caches, and a peer address that presented
/// <see cref="ApiOptions.FailedKeyLimit"/> wrong keys in a window is answered 429 until the window ends.
/// A right key without the scope the route declares (<see cref="ScopeRequirement"/>) is answered 403 naming the scope.
/// </summary>
internal sealed class ApiKeyMiddleware
{
    private readonly RequestDelegate _next;
    private readonly IReadOnlyList<KnownKey> _keys;
    private readonly PartitionedRateLimiter<string> _failures;

    public ApiKeyMiddleware(RequestDelegate next, IOptions<ApiOptions> options, FailedKeyLimiter failures)
    {
        _next = next;
        var settings = options.Value;
        var keys = new List<KnownKey>();
        if (!string.IsNullOrWhiteSpace(settings.Key))
            keys.Add(new KnownKey(Hash(settings.Key), ApiOptions.KeySetting, ApiScopes.All));
        foreach (var (name, named) in settings.Keys)
        {
            if (string.IsNullOrWhiteSpace(named.Key)) continue;
            var scopes = (named.Scopes ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            keys.Add(new KnownKey(Hash(named.Key), $"{ApiOptions.KeysSection}:{name}", scopes));
        }
        _keys = keys;
        _failures = failures.Limiter;
    }

    public static bool IsProtected(PathString path) =>
        path == "/" || path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        if (!IsProtected(context.Request.Path))
            return _next(context);

        // Tokens and account states must not stay in a browser's or proxy's cache; OnStarting also covers error answers.
        context.Response.OnStarting(static state =>
        {
            ((HttpResponse)state).Headers.CacheControl = "no-store";
            return Task.CompletedTask;
        }, context.Response);

        // A route declares its scope; an unknown path under /v1 has none and answers 404 to any valid key.
        var required = context.GetEndpoint()?.Metadata.GetMetadata<ScopeRequirement>()?.Scope;
        if (_keys.Count == 0)
        {
            if (LocalRequestRules.RefusalWithoutKey(context.Request, context.Connection.RemoteIpAddress) is { } refusal)
                return Problems.Create(StatusCodes.Status403Forbidden, "Forbidden", refusal).ExecuteAsync(context);
        }
        else
        {
            var peer = Peer(context.Connection.RemoteIpAddress);
            // Zero permits asks whether any failure is left in this window without spending one.
            using (var left = _failures.AttemptAcquire(peer, 0))
            {
                if (!left.IsAcquired)
                    return TooManyFailures(context, left);
            }
            var key = Match(context.Request.Headers.Authorization.ToString());
            if (key is null)
            {
                _failures.AttemptAcquire(peer).Dispose();
                context.Response.Headers.WWWAuthenticate = "Bearer";
                return Problems.Create(StatusCodes.Status401Unauthorized, "Unauthorized",
                    "This endpoint needs 'Authorization: Bearer <key>' with the key configured as ActorRefresh:Api:Key.")
                    .ExecuteAsync(context);
            }
            if (required is not null && !key.Scopes.Contains(required))
                return Problems.Create(StatusCodes.Status403Forbidden, "Scope required",
                    $"This endpoint needs a key with the '{required}' scope; the key presented ({key.Setting}) has " +
                    $"{(key.Scopes.Count == 0 ? "none" : string.Join(", ", key.Scopes.Order(StringComparer.Ordinal)))}.")
                    .ExecuteAsync(context);
        }

        if (LocalRequestRules.RefusalOfBody(context.Request) is { } bodyRefusal)
            return Problems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", bodyRefusal).ExecuteAsync(context);
        return _next(context);
    }

    private static Task TooManyFailures(HttpContext context, RateLimitLease lease)
    {
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
        context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problems.Create(StatusCodes.Status429TooManyRequests, "Too many failed keys",
            "This address presented too many failed API keys; no key is checked from it until the Retry-After time.").ExecuteAsync(context);
    }

    // IPv4 peers arrive as IPv4-mapped IPv6 on dual-stack sockets: one partition per address either way.
    private static string Peer(IPAddress? address) =>
        address is null ? "" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    // Hashing both sides first makes the comparison constant-time in the key length too.
    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key.Trim()));

    // Every known key is compared (no early exit), so the time does not tell which key came close.
    private KnownKey? Match(string header)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        var presented = Hash(header[scheme.Length..]);
        KnownKey? found = null;
        foreach (var key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, key.Hash))
                found = key;
        }
        return found;
    }

    /// <summary>A configured key: its hash, the setting that names it (for messages) and its scopes.</summary>
    private sealed record KnownKey(byte[] Hash, string Setting, IReadOnlySet<string> Scopes);
}

/// <summary>
/// Failed keys per peer address: a fixed window of <see cref="ApiOptions.FailedKeyLimit"/> per
/// <see cref="ApiOptions.FailedKeyWindow"/>. A singleton so the container disposes its timer with the host.
/// </summary>
internal sealed class FailedKeyLimiter : IDisposable
{
    public FailedKeyLimiter(IOptions<ApiOptions> options)
    {
        var limit = Math.Max(1, options.Value.FailedKeyLimit);
        var window = options.Value.FailedKeyWindow > TimeSpan.Zero ? options.Value.FailedKeyWindow : TimeSpan.FromMinutes(1);
        Limiter = PartitionedRateLimiter.Create<string, string>(peer => RateLimitPartition.GetFixedWindowLimiter(peer,
            _ => new FixedWindowRateLimiterOptions { PermitLimit = limit, Window = window, QueueLimit = 0, AutoReplenishment = true }));
    }

    public PartitionedRateLimiter<string> Limiter { get; }

    public void Dispose() => Limiter.Dispose();
}
