using System.Globalization;
using System.Net;
using System.Text;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
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
/// Access follows <see cref="ApiKeyAuthenticationHandler"/>: with a key configured the page needs the
/// <c>Authorization: Bearer</c> header (a browser extension or a reverse proxy that adds it; the key is
/// deliberately not accepted in the URL); without a key the server only listens on loopback and the page is open.
/// </remarks>
internal static class StatusPage
{
    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", RenderAsync).RequireScope(ApiScopes.Read).WithTags("Operations")
            .WithSummary("The status page: every account and pool, as HTML (no token)")
            .Produces(StatusCodes.Status200OK, contentType: "text/html");
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

        IReadOnlyList<PoolSummary>? pools = null;
        if (failure is null)
        {
            var summaries = new List<PoolSummary>();
            foreach (var definition in tokens.ListPools())
            {
                try
                {
                    var pool = await tokens.GetPoolAsync(definition.Name, ct).ConfigureAwait(false);
                    summaries.Add(new PoolSummary(pool.Name, PoolStrategies.Name(pool.Strategy), pool.UsableCount, pool.Members.Count));
                }
                catch (PoolNotFoundException)
                {
                    // Removed between the list and the look-up.
                }
            }
            pools = summaries;
        }

        var html = Render(accounts, failure, time.GetUtcNow(), pools);
        return TypedResults.Text(html, "text/html; charset=utf-8", Encoding.UTF8,
            failure is null ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>One line of the pools section.</summary>
    internal sealed record PoolSummary(string Name, string Strategy, int Usable, int Total);

    internal static string Render(IReadOnlyList<AccountStatus>? accounts, string? failure, DateTimeOffset now, IReadOnlyList<PoolSummary>? pools = null)
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
            th{background:#f3f3f3}
            .bar{display:inline-block;width:6rem;height:.7rem;background:#e6e6e6;border:1px solid #bbb;vertical-align:middle;margin-right:.4rem}
            .bar span{display:block;height:100%;background:#3a8a4a}.bar span.warm{background:#c88a00}.bar span.hot{background:#b22}
            .reset{color:#777;font-size:.8em}.unavailable{color:#777}.Valid{color:#176d2c}.Refreshing{color:#1d4f91}.BackingOff{color:#9a5b00}.PolicyBlocked{color:#a11}
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
                .Append("<th>Next</th><th>Last error</th><th>What to do</th><th>Five-hour</th><th>Seven-day</th></tr></thead>\n<tbody>\n");
            foreach (var account in accounts.OrderBy(a => a.AccountId, StringComparer.Ordinal))
            {
                var state = account.State.ToString();
                html.Append("<tr>")
                    .Append(Cell(account.AccountId))
                    .Append(Cell(account.Provider))
                    .Append("<td class=\"").Append(Encode(state)).Append("\">").Append(Encode(state)).Append("</td>")
                    .Append(Cell(Format(account.AccessTokenExpiresAt)))
                    .Append(Cell(Cli.AccountGuidance.NextStep(account)))
                    .Append(Cell(account.LastErrorClass ?? "—"))
                    .Append(Cell(Cli.AccountGuidance.Advice(account) ?? "—"))
                    .Append(UsageCells(account.Usage, now))
                    .Append("</tr>\n");
            }
            html.Append("</tbody>\n</table>\n");
        }
        if (pools is { Count: > 0 })
        {
            html.Append("<h2>Pools</h2>\n<table>\n<thead><tr><th>Pool</th><th>Strategy</th><th>Usable</th></tr></thead>\n<tbody>\n");
            foreach (var pool in pools.OrderBy(p => p.Name, StringComparer.Ordinal))
            {
                html.Append("<tr>")
                    .Append(Cell(pool.Name))
                    .Append(Cell(pool.Strategy))
                    .Append("<td class=\"").Append(pool.Usable > 0 ? "Valid" : "PolicyBlocked").Append("\">")
                    .Append(Encode(string.Create(CultureInfo.InvariantCulture, $"{pool.Usable}/{pool.Total}"))).Append("</td>")
                    .Append("</tr>\n");
            }
            html.Append("</tbody>\n</table>\n");
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// The five-hour and seven-day cells; when usage checks are unavailable for the account's credentials, one cell
    /// spanning both that says why (with what API responses reported, if anything).
    /// </summary>
    internal static string UsageCells(AccountUsage? usage, DateTimeOffset now)
    {
        if (usage?.Unavailable is { } why)
        {
            var known = usage.FiveHourUtilization is { } f ? string.Create(CultureInfo.InvariantCulture, $"; last reported five-hour {f:0.#}%") : "";
            return "<td colspan=\"2\" class=\"unavailable\">" + Encode($"usage: unavailable ({why}){known}") + "</td>";
        }
        return UsageCell(usage?.FiveHourUtilization, usage?.FiveHourResetsAt, now) + UsageCell(usage?.SevenDayUtilization, usage?.SevenDayResetsAt, now);
    }

    /// <summary>
    /// A utilisation bar (plain CSS): the window's utilisation, 0 once its reset has passed (as pools count it),
    /// with the reset time; a dash when the window is unknown.
    /// </summary>
    internal static string UsageCell(double? utilisation, DateTimeOffset? resetsAt, DateTimeOffset now)
    {
        if (utilisation is not { } value || double.IsNaN(value))
            return "<td>—</td>";
        var reset = resetsAt is { } r && r <= now;
        var shown = reset ? 0 : Math.Clamp(value, 0, 100);
        var percent = shown.ToString("0.#", CultureInfo.InvariantCulture);
        var width = shown.ToString("0.##", CultureInfo.InvariantCulture);
        var heat = shown >= 90 ? " class=\"hot\"" : shown >= 70 ? " class=\"warm\"" : "";
        var note = reset ? "reset" : resetsAt is null ? "" : "resets " + Format(resetsAt);
        var html = new StringBuilder(160)
            .Append("<td><span class=\"bar\" title=\"").Append(Encode(percent + "%")).Append("\"><span").Append(heat)
            .Append(" style=\"width:").Append(width).Append("%\"></span></span>")
            .Append(Encode(percent + "%"));
        if (note.Length > 0)
            html.Append(" <span class=\"reset\">").Append(Encode(note)).Append("</span>");
        return html.Append("</td>").ToString();
    }

    private static string Cell(string text) => "<td>" + Encode(text) + "</td>";

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    private static string Format(DateTimeOffset? value) =>
        value is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "—";
}
