using System.Globalization;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace ActorRefresh.Host.Api;

/// <summary>
/// <c>GET/POST /signin</c> and <c>POST /signout</c>: the form that turns a configured API key into a status page
/// session (<see cref="BrowserSessions"/>). A wrong key counts as a failed key of the peer address like a wrong Bearer
/// header, so the form is no faster way to guess. The key itself is never echoed, logged or kept: the session holds the
/// key's setting name and scopes only.
/// </summary>
internal static class SignInPage
{
    public static IEndpointRouteBuilder MapSignInPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(BrowserSessions.SignInPath, Show).Public().WithTags("Operations")
            .WithSummary("The status page's sign-in form (HTML)").Produces(StatusCodes.Status200OK, contentType: "text/html");
        endpoints.MapPost(BrowserSessions.SignInPath, SignInAsync).Public().WithTags("Operations")
            .WithSummary("Sign in to the status page with an API key (form post with the anti-forgery token): sets the session cookie")
            .Accepts<SignInForm>("application/x-www-form-urlencoded")
            .Produces(StatusCodes.Status302Found).Produces(StatusCodes.Status400BadRequest, contentType: "text/html")
            .Produces(StatusCodes.Status401Unauthorized, contentType: "text/html").Produces(StatusCodes.Status429TooManyRequests, contentType: "text/html");
        endpoints.MapPost(BrowserSessions.SignOutPath, SignOutAsync).Public().WithTags("Operations")
            .WithSummary("End the status page session (form post with the anti-forgery token)")
            .Produces(StatusCodes.Status302Found).Produces(StatusCodes.Status400BadRequest, contentType: "text/html");
        return endpoints;
    }

    private static IResult Show(HttpContext context, ApiKeyRing keys, IAntiforgery antiforgery, string? returnUrl) =>
        keys.IsEmpty ? Results.Redirect("/") : Form(context, antiforgery, returnUrl, null, StatusCodes.Status200OK);

    private static async Task<IResult> SignInAsync(HttpContext context, ApiKeyRing keys, FailedKeyLimiter failures, IAntiforgery antiforgery)
    {
        if (keys.IsEmpty)
            return Results.Redirect("/");
        if (!context.Request.HasFormContentType)
            return Form(context, antiforgery, null, "Sign in with the form on this page.", StatusCodes.Status400BadRequest);
        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var returnUrl = form["returnUrl"].ToString();
        if (!await antiforgery.IsRequestValidAsync(context).ConfigureAwait(false))
            return Form(context, antiforgery, returnUrl, "The form had expired (or did not come from this page): sign in again.", StatusCodes.Status400BadRequest);

        var peer = ApiKeyAuthenticationHandler.Peer(context.Connection.RemoteIpAddress);
        using (var left = failures.Limiter.AttemptAcquire(peer, 0))
        {
            if (!left.IsAcquired)
            {
                var wait = left.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1);
                context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Form(context, antiforgery, returnUrl, "This address presented too many failed API keys: try again after a while.",
                    StatusCodes.Status429TooManyRequests);
            }
        }
        var key = keys.MatchKey(form["key"].ToString());
        if (key is null)
        {
            failures.Limiter.AttemptAcquire(peer).Dispose();
            return Form(context, antiforgery, returnUrl, "That is not one of the configured API keys.", StatusCodes.Status401Unauthorized);
        }
        if (!key.Scopes.Contains(ApiScopes.Read))
            return Form(context, antiforgery, returnUrl,
                $"The key {key.Setting} has no '{ApiScopes.Read}' scope, which the status page needs.", StatusCodes.Status403Forbidden);

        await context.SignInAsync(BrowserSessions.CookieScheme, BrowserSessions.PrincipalOf(key),
            new AuthenticationProperties { IsPersistent = false, AllowRefresh = false }).ConfigureAwait(false);
        return Results.Redirect(LocalPath(returnUrl));
    }

    private static async Task<IResult> SignOutAsync(HttpContext context, IAntiforgery antiforgery)
    {
        if (!await antiforgery.IsRequestValidAsync(context).ConfigureAwait(false))
            return Form(context, antiforgery, null, "The sign-out did not come from the status page: nothing was changed.", StatusCodes.Status400BadRequest);
        await context.SignOutAsync(BrowserSessions.CookieScheme).ConfigureAwait(false);
        return Results.Redirect(BrowserSessions.SignInPath);
    }

    /// <summary>Only a path of this server: never another site (an open redirect), never a scheme-relative <c>//host</c>.</summary>
    internal static string LocalPath(string? returnUrl) =>
        returnUrl is { Length: > 0 } url && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : "/";

    private static HtmlPage Form(HttpContext context, IAntiforgery antiforgery, string? returnUrl, string? error, int status)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = HtmlPage.Begin("ActorRefresh: sign in")
            .Append("<body>\n<h1>ActorRefresh</h1>\n<p>Sign in with an API key (")
            .Append(HtmlPage.Encode(ApiOptions.KeySetting)).Append(" or a named key with the '").Append(ApiScopes.Read).Append("' scope).</p>\n");
        if (error is not null)
            html.Append("<p class=\"error\" role=\"alert\">").Append(HtmlPage.Encode(error)).Append("</p>\n");
        html.Append("<form method=\"post\" action=\"").Append(BrowserSessions.SignInPath).Append("\">\n")
            .Append("<input type=\"hidden\" name=\"").Append(BrowserSessions.AntiforgeryField).Append("\" value=\"")
            .Append(HtmlPage.Encode(tokens.RequestToken ?? "")).Append("\">\n")
            .Append("<input type=\"hidden\" name=\"returnUrl\" value=\"").Append(HtmlPage.Encode(LocalPath(returnUrl))).Append("\">\n")
            .Append("<label>API key <input type=\"password\" name=\"key\" id=\"key\" autocomplete=\"current-password\" required autofocus></label>\n")
            .Append("<button type=\"submit\">Sign in</button>\n</form>\n</body>\n</html>\n");
        context.Response.Headers.CacheControl = CacheControlHeaderValue.NoStoreString;
        return new HtmlPage(html.ToString(), status);
    }
}

/// <summary>The sign-in form's fields (for the API description).</summary>
internal sealed class SignInForm
{
    public string? Key { get; set; }
    public string? ReturnUrl { get; set; }
}
