using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Api;

/// <summary>
/// How a person signs in to the status page: a browser cannot send <c>Authorization: Bearer</c>, so the sign-in form
/// (<see cref="SignInPage"/>) takes a configured API key once and sets a session cookie (HttpOnly, <c>SameSite=Strict</c>,
/// <c>Secure</c> over HTTPS) that signs in as that key, with its scopes, for <see cref="Lifetime"/>. Every request a
/// session cookie signs in that can change something (any method but GET/HEAD/OPTIONS) must carry the page's
/// anti-forgery token in <see cref="AntiforgeryHeader"/>. Scripts keep using the Bearer header and need no token.
/// </summary>
/// <remarks>
/// <para>
/// The <see cref="SchemeName">selecting scheme</see> is the default: a request with an <c>Authorization</c> header is
/// the <see cref="ApiKeyAuthenticationHandler">ApiKey</see> scheme's, one with the session cookie the cookie scheme's,
/// and an unsigned browser page (<see cref="BrowserPage"/>) is sent to the sign-in form; everything else answers as the
/// ApiKey scheme always did (401 problem). Without a configured key (loopback mode) there is nothing to sign in with:
/// the ApiKey scheme's keyless rules apply to every request.
/// </para>
/// <para>
/// Session cookies and anti-forgery tokens are protected with keys that live in memory only: a restart signs everyone
/// out, and in a cluster a session belongs to the node that issued it. Nothing about a session is written to disk.
/// </para>
/// </remarks>
internal static class BrowserSessions
{
    /// <summary>The default scheme: picks ApiKey or the session cookie per request.</summary>
    public const string SchemeName = "ActorRefresh";

    /// <summary>The session cookie's scheme.</summary>
    public const string CookieScheme = "Session";

    public const string CookieName = "actorrefresh.session";
    public const string AntiforgeryCookieName = "actorrefresh.antiforgery";
    public const string AntiforgeryHeader = "X-CSRF-TOKEN";
    public const string AntiforgeryField = "__RequestVerificationToken";
    public const string SignInPath = "/signin";
    public const string SignOutPath = "/signout";

    /// <summary>How long a session lasts from its sign-in (not sliding: an unattended browser does not stay signed in).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    public static AuthenticationBuilder AddBrowserSessions(this AuthenticationBuilder authentication)
    {
        var services = authentication.Services;
        // Keys in memory only: nothing a session needs is stored, a restart ends every session.
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddAntiforgery(o =>
        {
            o.HeaderName = AntiforgeryHeader;
            o.FormFieldName = AntiforgeryField;
            o.Cookie.Name = AntiforgeryCookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        // Sessions live on the server: the cookie holds an id only, and a sign-out really ends the session.
        services.AddSingleton<SessionTickets>();
        services.AddOptions<CookieAuthenticationOptions>(CookieScheme).Configure<SessionTickets>((o, tickets) => o.SessionStore = tickets);
        authentication.AddPolicyScheme(SchemeName, "API key or status page session", o => o.ForwardDefaultSelector = Select);
        authentication.AddCookie(CookieScheme, o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = Lifetime;
            o.SlidingExpiration = false;
            o.LoginPath = SignInPath;
            o.ReturnUrlParameter = "returnUrl";
            // A session whose key lacks the route's scope: the same 403 problem as for a Bearer key.
            o.ForwardForbid = ApiKeyAuthenticationHandler.SchemeName;
            o.Events.OnRedirectToLogin = context =>
            {
                if (IsBrowserPage(context.HttpContext))
                {
                    context.Response.Redirect(context.RedirectUri);
                    return Task.CompletedTask;
                }
                // An expired session calling the API from the page: a problem the page shows, not a redirect.
                return Problems.Create(StatusCodes.Status401Unauthorized, "Unauthorized",
                    "The status page session has ended (or was never started): sign in again.").ExecuteAsync(context.HttpContext);
            };
        });
        return authentication;
    }

    private static string Select(HttpContext context)
    {
        if (context.RequestServices.GetRequiredService<ApiKeyRing>().IsEmpty || context.Request.Headers.Authorization.Count > 0)
            return ApiKeyAuthenticationHandler.SchemeName;
        if (context.Request.Cookies.ContainsKey(CookieName) || IsBrowserPage(context))
            return CookieScheme;
        return ApiKeyAuthenticationHandler.SchemeName;
    }

    private static bool IsBrowserPage(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method) && context.GetEndpoint()?.Metadata.GetMetadata<BrowserPage>() is not null;

    /// <summary>A principal for a session: the key's setting name and its scopes, as the ApiKey scheme signs in.</summary>
    public static ClaimsPrincipal PrincipalOf(ApiKeyRing.KnownKey key)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, key.Setting) };
        claims.AddRange(key.Scopes.Select(s => new Claim(ApiKeyAuthenticationHandler.ScopeClaim, s)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieScheme));
    }

    /// <summary>True when the request was signed in by a session cookie (not a Bearer key, not keyless mode).</summary>
    public static bool IsSession(HttpContext context) => context.User.Identity is { IsAuthenticated: true, AuthenticationType: CookieScheme };

    /// <summary>
    /// After authorization: a request a session cookie signed in that can change something needs the page's
    /// anti-forgery token, so another site's page cannot act with the operator's cookie (SameSite=Strict is the first
    /// guard; this is the second).
    /// </summary>
    public static IApplicationBuilder UseAntiforgeryForSessions(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var method = context.Request.Method;
        if (IsSession(context) && !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)))
        {
            var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
            if (!await antiforgery.IsRequestValidAsync(context).ConfigureAwait(false))
            {
                await Problems.Create(StatusCodes.Status400BadRequest, "Anti-forgery token required",
                    $"A request signed in by the status page session must carry the page's anti-forgery token in the {AntiforgeryHeader} header; reload the page.")
                    .ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
        }
        await next(context).ConfigureAwait(false);
    });

    /// <summary>Marks an HTML page: an unsigned browser is sent to the sign-in form instead of a 401 problem.</summary>
    public static TBuilder AsBrowserPage<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(BrowserPage.Instance);
}

/// <summary>
/// The sessions of this node, in memory: the cookie names one by a random id. Bounded: past <see cref="MaxSessions"/>
/// the oldest is dropped (its browser signs in again).
/// </summary>
internal sealed class SessionTickets(TimeProvider time) : ITicketStore
{
    public const int MaxSessions = 1000;
    private readonly ConcurrentDictionary<string, (AuthenticationTicket Ticket, DateTimeOffset Created)> _tickets = new(StringComparer.Ordinal);

    public int Count => _tickets.Count;

    public Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var now = time.GetUtcNow();
        foreach (var (id, entry) in _tickets)
            if (entry.Ticket.Properties.ExpiresUtc is { } end && end <= now) _tickets.TryRemove(id, out _);
        while (_tickets.Count >= MaxSessions && _tickets.MinBy(t => t.Value.Created) is { Key: { } oldest })
            _tickets.TryRemove(oldest, out _);
        var key = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        _tickets[key] = (ticket, now);
        return Task.FromResult(key);
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        if (_tickets.TryGetValue(key, out var entry))
            _tickets[key] = (ticket, entry.Created);
        return Task.CompletedTask;
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key) =>
        Task.FromResult(_tickets.TryGetValue(key, out var entry) ? entry.Ticket : null);

    public Task RemoveAsync(string key)
    {
        _tickets.TryRemove(key, out _);
        return Task.CompletedTask;
    }
}

/// <summary>Endpoint metadata: an HTML page a person opens (see <see cref="BrowserSessions"/>).</summary>
internal sealed class BrowserPage
{
    public static readonly BrowserPage Instance = new();
}
