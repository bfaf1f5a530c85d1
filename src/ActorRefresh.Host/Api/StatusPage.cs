using System.Globalization;
using System.Net;
using System.Text;
using ActorRefresh.Core.Providers;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// <c>GET /</c>: an HTML page listing the accounts (100 a page, filtered by id or provider and by state) and the pools,
/// reloading itself every <see cref="ApiOptions.StatusPageReloadSeconds"/>. It shows status only, never a token, and
/// HTML-encodes every value. With the <c>admin</c> scope it offers actions (refresh, unblock, log in again, add an
/// account), which its script (<see cref="ScriptPath"/>) sends to the same <c>/v1</c> endpoints a script would, with the
/// page's anti-forgery token.
/// </summary>
/// <remarks>
/// Access follows the API's rules: a Bearer key, or a session from the sign-in form (<see cref="BrowserSessions"/>) when
/// a key is configured; without a key the server only listens on loopback and the page is open to this machine.
/// </remarks>
internal static class StatusPage
{
    public const string ScriptPath = "/status-page.js";
    public const int PageSize = 100;
    private static readonly string Script = LoadScript();

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", RenderAsync).RequireScope(ApiScopes.Read).AsBrowserPage().WithTags("Operations")
            .WithSummary("The status page: accounts (paged, filtered with q and state) and pools, as HTML (no token)")
            .Produces(StatusCodes.Status200OK, contentType: "text/html").Produces(StatusCodes.Status400BadRequest, contentType: "text/html");
        // The script holds no secret and no data: public like the probes, so the sign-in form's redirect is the only gate.
        endpoints.MapGet(ScriptPath, () => TypedResults.Text(Script, "text/javascript; charset=utf-8")).Public().WithTags("Operations")
            .WithSummary("The status page's script (no data)").Produces(StatusCodes.Status200OK, contentType: "text/javascript");
        return endpoints;
    }

    private static string LoadScript()
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream("ActorRefresh.Host.Api.status-page.js")
            ?? throw new InvalidOperationException("The status page script is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static async Task<IResult> RenderAsync(HttpContext context, IAccountAdmin admin, IAccountPools accountPools, TimeProvider time, IAntiforgery antiforgery,
        IProviderRegistry providers, IOptions<ApiOptions> options, CancellationToken ct)
    {
        if (StatusView.Parse(context.Request.Query) is { Error: { } error })
            return new HtmlPage(HtmlPage.Begin("ActorRefresh").Append("<body>\n<h1>ActorRefresh</h1>\n<p class=\"error\">")
                .Append(HtmlPage.Encode(error)).Append("</p>\n<p><a href=\"/\">All accounts</a></p>\n</body>\n</html>\n").ToString(), StatusCodes.Status400BadRequest);
        var query = StatusView.Parse(context.Request.Query).View!;

        IReadOnlyList<AccountStatus>? accounts = null;
        string? failure = null;
        try
        {
            accounts = await admin.ListAsync(ct).ConfigureAwait(false);
        }
        catch (ActorRefreshException exception)
        {
            failure = exception.Message;
        }

        IReadOnlyList<PoolSummary>? pools = null;
        if (failure is null)
        {
            var summaries = new List<PoolSummary>();
            foreach (var definition in accountPools.ListPools())
            {
                try
                {
                    var pool = await accountPools.GetPoolAsync(definition.Name, ct).ConfigureAwait(false);
                    summaries.Add(new PoolSummary(pool.Name, PoolStrategies.Name(pool.Strategy), pool.UsableCount, pool.Members.Count));
                }
                catch (PoolNotFoundException)
                {
                    // Removed between the list and the look-up.
                }
            }
            pools = summaries;
        }

        var user = context.User;
        var view = query with
        {
            CanAdmin = user.HasClaim(ApiKeyAuthenticationHandler.ScopeClaim, ApiScopes.Admin),
            SignedInAs = BrowserSessions.IsSession(context) ? user.Identity?.Name : null,
            AntiforgeryToken = antiforgery.GetAndStoreTokens(context).RequestToken,
            Providers = [.. providers.Names.Order(StringComparer.Ordinal)],
            ReloadSeconds = options.Value.StatusPageReloadSeconds,
        };
        var html = Render(accounts, failure, time.GetUtcNow(), pools, view);
        return new HtmlPage(html, failure is null ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>One line of the pools section.</summary>
    internal sealed record PoolSummary(string Name, string Strategy, int Usable, int Total);

    internal static string Render(IReadOnlyList<AccountStatus>? accounts, string? failure, DateTimeOffset now, IReadOnlyList<PoolSummary>? pools = null,
        StatusView? view = null)
    {
        view ??= StatusView.Default;
        var html = HtmlPage.Begin("ActorRefresh", view.AntiforgeryToken, view.ReloadSeconds, script: true);
        html.Append("<body data-reload=\"").Append(view.ReloadSeconds).Append("\">\n");
        if (view.SignedInAs is { } who)
            html.Append("<div class=\"session\">Signed in as ").Append(Encode(who)).Append(" <form method=\"post\" action=\"")
                .Append(BrowserSessions.SignOutPath).Append("\"><input type=\"hidden\" name=\"").Append(BrowserSessions.AntiforgeryField)
                .Append("\" value=\"").Append(Encode(view.AntiforgeryToken ?? "")).Append("\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form></div>\n");
        html.Append("<h1>ActorRefresh</h1>\n");
        html.Append("<p>Accounts at ").Append(Encode(Format(now))).Append(view.ReloadSeconds > 0
            ? string.Create(CultureInfo.InvariantCulture, $" (reloads every {view.ReloadSeconds} s).</p>\n") : ".</p>\n");
        html.Append("<p id=\"message\" role=\"status\"></p>\n");
        if (failure is not null)
            html.Append("<p class=\"PolicyBlocked\">Engine unavailable: ").Append(Encode(failure)).Append("</p>\n");
        else if (accounts is null || accounts.Count == 0)
        {
            html.Append("<p>No accounts are registered.</p>\n");
            StatusPageParts.Toolbar(html, view, 0, 0);
        }
        else
            StatusPageParts.Accounts(html, accounts, now, view);
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
        if (view.CanAdmin)
            StatusPageParts.Dialogs(html, view);
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

    internal static string Cell(string text) => "<td>" + Encode(text) + "</td>";

    internal static string Encode(string text) => WebUtility.HtmlEncode(text);

    internal static string Format(DateTimeOffset? value) =>
        value is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "—";
}
