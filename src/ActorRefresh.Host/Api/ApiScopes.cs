using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Api;

/// <summary>
/// What a key may do. Every mapped route declares one scope (<see cref="RequireScope{TBuilder}"/>) or is declared
/// public (<see cref="Public{TBuilder}"/>); a test enumerates the endpoints so a new route cannot go undeclared.
/// </summary>
internal static class ApiScopes
{
    /// <summary>What a worker needs: read a token, lease from a pool, report a rejected token or usage.</summary>
    public const string Tokens = "tokens";

    /// <summary>Changing accounts and pools: register, import, replace, block, unblock, refresh, remove, pool definitions.</summary>
    public const string Admin = "admin";

    /// <summary>Read-only views: the status page, account and pool status, lists, the cluster view. No token.</summary>
    public const string Read = "read";

    /// <summary>Every scope: what the single <see cref="ApiOptions.KeySetting"/> key (and keyless loopback mode) has.</summary>
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Tokens, Admin, Read };

    /// <summary>The authorization policy of a scope: a key signed in with that <c>scope</c> claim.</summary>
    public static string PolicyOf(string scope) => "scope:" + scope;

    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(PolicyOf(scope)).WithMetadata(new ScopeRequirement(scope));

    /// <summary>The scope policies, and the fallback policy: a route that declares nothing needs a key all the same.</summary>
    public static void AddScopePolicies(AuthorizationBuilder authorization)
    {
        // The selecting scheme: a Bearer key, or a status page session (BrowserSessions).
        var signedIn = new AuthorizationPolicyBuilder(BrowserSessions.SchemeName).RequireAuthenticatedUser();
        authorization.SetFallbackPolicy(signedIn.Build());
        foreach (var scope in All)
            authorization.AddPolicy(PolicyOf(scope), p => p.AddAuthenticationSchemes(BrowserSessions.SchemeName)
                .RequireAuthenticatedUser().RequireClaim(ApiKeyAuthenticationHandler.ScopeClaim, scope));
    }

    /// <summary>Declares the problem (RFC 7807) answers a route gives, for the OpenAPI document.</summary>
    public static RouteHandlerBuilder Problems(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
            builder.ProducesProblem(status);
        return builder;
    }

    /// <summary>Marks a route that needs no key (probes, the metrics scrape): the one way past the fallback policy.</summary>
    public static TBuilder Public<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AllowAnonymous().WithMetadata(PublicEndpoint.Instance);
}

/// <summary>Endpoint metadata: the scope a key needs for this route.</summary>
internal sealed record ScopeRequirement(string Scope);

/// <summary>Endpoint metadata: this route needs no key.</summary>
internal sealed class PublicEndpoint
{
    public static readonly PublicEndpoint Instance = new();
}
