using System.Globalization;
using System.Net;
using System.Text;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace ActorRefresh.Host.Api;

/// <summary>
/// <c>GET /</c>: a plain HTML page listing every account, reloading itself every 5 seconds.
/// It shows status only, never a token, and HTML-encodes every value.
/// </summary>
/// <remarks>
/// Access follows <see cref="ApiKeyMiddleware"/>: with a key configured the page needs the
/// <c>Authorization: Bearer</c> header (a browser extension or a reverse proxy that adds it; the key is
/// deliberately not accepted in the URL); without a key the server only listens on loopback and the page is open.
/// </remarks>
internal static class StatusPage
{
    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", RenderAsync);
        return endpoints;
    }

    private static async Task<IResult> RenderAsync(ITokenProvider tokens, TimeProvider time, CancellationToken ct)
    {
        IReadOnlyList<AccountStatus>? accounts = null;
        string? failure = null;
        try
        {
            accounts = await tokens.ListAsync(ct).ConfigureAwait(false);
        }
        catch (ActorRefreshException exception)
        {
            failure = exception.Message;
        }

        var html = Render(accounts, failure, time.GetUtcNow());
        return TypedResults.Text(html, "text/html; charset=utf-8", Encoding.UTF8,
            failure is null ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    internal static string Render(IReadOnlyList<AccountStatus>? accounts, string? failure, DateTimeOffset now)
    {
        var html = new StringBuilder(4096);
        html.Append("""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="5">
            <title>ActorRefresh</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
            table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
            th{background:#f3f3f3}.Valid{color:#176d2c}.Refreshing{color:#1d4f91}.BackingOff{color:#9a5b00}.PolicyBlocked{color:#a11}
            </style>
            </head>
            <body>
            <h1>ActorRefresh</h1>
            """);
        html.Append("<p>Accounts at ").Append(Encode(Format(now))).Append(" (reloads every 5 s).</p>\n");
        if (failure is not null)
            html.Append("<p class=\"PolicyBlocked\">Engine unavailable: ").Append(Encode(failure)).Append("</p>\n");
        else if (accounts is null || accounts.Count == 0)
            html.Append("<p>No accounts are registered.</p>\n");
        else
        {
            html.Append("<table>\n<thead><tr><th>Account</th><th>Provider</th><th>State</th><th>Access token expires</th>")
                .Append("<th>Next refresh</th><th>Retry at</th><th>Last error</th></tr></thead>\n<tbody>\n");
            foreach (var account in accounts.OrderBy(a => a.AccountId, StringComparer.Ordinal))
            {
                var state = account.State.ToString();
                html.Append("<tr>")
                    .Append(Cell(account.AccountId))
                    .Append(Cell(account.Provider))
                    .Append("<td class=\"").Append(Encode(state)).Append("\">").Append(Encode(state)).Append("</td>")
                    .Append(Cell(Format(account.AccessTokenExpiresAt)))
                    .Append(Cell(Format(account.NextRefreshAt)))
                    .Append(Cell(Format(account.RetryAt)))
                    .Append(Cell(account.LastErrorClass ?? "—"))
                    .Append("</tr>\n");
            }
            html.Append("</tbody>\n</table>\n");
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static string Cell(string text) => "<td>" + Encode(text) + "</td>";

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    private static string Format(DateTimeOffset? value) =>
        value is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "—";
}
