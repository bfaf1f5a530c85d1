using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Api;

/// <summary>
/// An HTML answer of the broker's own pages (status page, sign-in form) with the headers that keep them to
/// themselves: a content security policy that runs only the broker's own script and talks only to the broker, no
/// framing, no referrer (the page's URL carries filters, never a secret, but other sites need not see it).
/// </summary>
internal sealed class HtmlPage(string html, int status = StatusCodes.Status200OK) : IResult
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; " +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>The page's own stylesheet, shared by every page.</summary>
    public const string Style = """
        body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
        table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
        th{background:#f3f3f3}
        .bar{display:inline-block;width:6rem;height:.7rem;background:#e6e6e6;border:1px solid #bbb;vertical-align:middle;margin-right:.4rem}
        .bar span{display:block;height:100%;background:#3a8a4a}.bar span.warm{background:#c88a00}.bar span.hot{background:#b22}
        .reset{color:#777;font-size:.8em}.unavailable{color:#777}.Valid{color:#176d2c}.Refreshing{color:#1d4f91}.BackingOff{color:#9a5b00}.PolicyBlocked{color:#a11}
        .error{color:#a11}.ok{color:#176d2c}.toolbar{display:flex;gap:1rem;align-items:center;margin:.8rem 0}
        .session{float:right}.session form{display:inline}dialog label{display:block;margin:.5rem 0}
        """;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        await response.WriteAsync(html, Encoding.UTF8, httpContext.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The document's start up to and including <c>&lt;body&gt;</c>.</summary>
    public static StringBuilder Begin(string title, string? antiforgeryToken = null, int reloadSeconds = 0, bool script = false)
    {
        var html = new StringBuilder(8192)
            .Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        if (reloadSeconds > 0)
            html.Append("<noscript><meta http-equiv=\"refresh\" content=\"").Append(reloadSeconds).Append("\"></noscript>\n");
        if (antiforgeryToken is not null)
            html.Append("<meta name=\"csrf-token\" content=\"").Append(Encode(antiforgeryToken)).Append("\">\n");
        html.Append("<title>").Append(Encode(title)).Append("</title>\n<style>\n").Append(Style).Append("</style>\n");
        if (script)
            html.Append("<script src=\"").Append(StatusPage.ScriptPath).Append("\" defer></script>\n");
        return html.Append("</head>\n");
    }

    public static string Encode(string text) => WebUtility.HtmlEncode(text);
}
