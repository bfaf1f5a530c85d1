using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// The <c>ApiKey</c> authentication scheme: <c>Authorization: Bearer &lt;key&gt;</c>, never the query string (URLs end up
/// in proxy logs and browser history). A matching key signs in as its setting's name with its scopes as <c>scope</c>
/// claims; the authorization policies (<see cref="ApiScopes"/>) then ask for one scope per route, and the fallback policy
/// for a key on every route not marked public. Without a configured key (loopback only, see <see cref="ListenGuard"/>) a
/// request that passes <see cref="LocalRequestRules.RefusalWithoutKey"/> signs in with every scope. A peer address that
/// presented <see cref="ApiOptions.FailedKeyLimit"/> failed keys in a window is answered 429 until the window ends.
/// Failures are counted only when a protected route refused the request: a probe carrying a stale key uses up nothing.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRing keys,
    FailedKeyLimiter failures)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "scope";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (keys.IsEmpty)
        {
            return Task.FromResult(LocalRequestRules.RefusalWithoutKey(Request, Context.Connection.RemoteIpAddress) is { } refusal
                ? AuthenticateResult.Fail(new KeyRefusal(StatusCodes.Status403Forbidden, refusal))
                : Success(ApiOptions.KeySetting, ApiScopes.All));
        }
        // Zero permits asks whether any failure is left in this window without spending one.
        using (var left = failures.Limiter.AttemptAcquire(Peer(Context.Connection.RemoteIpAddress), 0))
        {
            if (!left.IsAcquired)
            {
                var wait = left.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1);
                return Task.FromResult(AuthenticateResult.Fail(new KeyRefusal(StatusCodes.Status429TooManyRequests,
                    "This address presented too many failed API keys; no key is checked from it until the Retry-After time.", wait)));
            }
        }
        var key = keys.Match(Request.Headers.Authorization.ToString());
        return Task.FromResult(key is null
            ? AuthenticateResult.Fail(new KeyRefusal(StatusCodes.Status401Unauthorized,
                "This endpoint needs 'Authorization: Bearer <key>' with the key configured as ActorRefresh:Api:Key."))
            : Success(key.Setting, key.Scopes));
    }

    private AuthenticateResult Success(string setting, IEnumerable<string> scopes)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, setting) };
        claims.AddRange(scopes.Select(s => new Claim(ScopeClaim, s)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var refusal = (await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false)).Failure as KeyRefusal
            ?? new KeyRefusal(StatusCodes.Status401Unauthorized, "This endpoint needs 'Authorization: Bearer <key>'.");
        switch (refusal.Status)
        {
            case StatusCodes.Status401Unauthorized:
                failures.Limiter.AttemptAcquire(Peer(Context.Connection.RemoteIpAddress)).Dispose();
                Response.Headers.WWWAuthenticate = "Bearer";
                await Problems.Create(refusal.Status, "Unauthorized", refusal.Message).ExecuteAsync(Context).ConfigureAwait(false);
                break;
            case StatusCodes.Status429TooManyRequests:
                Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(refusal.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await Problems.Create(refusal.Status, "Too many failed keys", refusal.Message).ExecuteAsync(Context).ConfigureAwait(false);
                break;
            default:
                await Problems.Create(refusal.Status, "Forbidden", refusal.Message).ExecuteAsync(Context).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>A right key without the route's scope: 403 naming the scope and what the key has (never the key).</summary>
    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var required = Context.GetEndpoint()?.Metadata.GetMetadata<ScopeRequirement>()?.Scope ?? "?";
        var user = Context.User;
        var scopes = user.FindAll(ScopeClaim).Select(c => c.Value).Order(StringComparer.Ordinal).ToList();
        return Problems.Create(StatusCodes.Status403Forbidden, "Scope required",
            $"This endpoint needs a key with the '{required}' scope; the key presented ({user.Identity?.Name}) has " +
            $"{(scopes.Count == 0 ? "none" : string.Join(", ", scopes))}.").ExecuteAsync(Context);
    }

    // IPv4 peers arrive as IPv4-mapped IPv6 on dual-stack sockets: one partition per address either way.
    internal static string Peer(IPAddress? address) =>
        address is null ? "" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    /// <summary>Why a request was not signed in; the message is safe to answer (it never holds a key).</summary>
    private sealed class KeyRefusal(int status, string message, TimeSpan retryAfter = default) : Exception(message)
    {
        public int Status { get; } = status;
        public TimeSpan RetryAfter { get; } = retryAfter;
    }
}

/// <summary>The configured keys, hashed once: the single key (every scope) and the named, scoped ones.</summary>
internal sealed class ApiKeyRing
{
    private readonly IReadOnlyList<KnownKey> _keys;

    public ApiKeyRing(IOptions<ApiOptions> options)
    {
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
    }

    /// <summary>No key configured: keyless loopback mode.</summary>
    public bool IsEmpty => _keys.Count == 0;

    // Hashing both sides first makes the comparison constant-time in the key length too.
    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key.Trim()));

    /// <summary>The key a <c>Bearer</c> header presents, or null. Every known key is compared (no early exit), so the time does not tell which key came close.</summary>
    public KnownKey? Match(string header)
    {
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? MatchKey(header[scheme.Length..]) : null;
    }

    /// <summary>The configured key <paramref name="presented"/> is (the sign-in form's field), or null; constant-time like <see cref="Match"/>.</summary>
    public KnownKey? MatchKey(string presentedKey)
    {
        var presented = Hash(presentedKey);
        KnownKey? found = null;
        foreach (var key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, key.Hash))
                found = key;
        }
        return found;
    }

    /// <summary>A configured key: its hash, the setting that names it (for messages) and its scopes.</summary>
    public sealed record KnownKey(byte[] Hash, string Setting, IReadOnlySet<string> Scopes);
}
