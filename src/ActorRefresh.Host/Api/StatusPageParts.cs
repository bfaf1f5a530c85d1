using System.Globalization;
using System.Text;
using ActorRefresh.Engine.Accounts;
using Microsoft.AspNetCore.Http;
using static ActorRefresh.Host.Api.StatusPage;

namespace ActorRefresh.Host.Api;

/// <summary>
/// What the status page shows: which page of accounts, filtered how, and what the reader may do.
/// </summary>
/// <param name="Page">1-based page of <see cref="StatusPage.PageSize"/> accounts.</param>
/// <param name="Query">Shows accounts whose id or provider contains this (case-insensitive), when set.</param>
/// <param name="State">Shows accounts in this state only, when set.</param>
internal sealed record StatusView(int Page, string? Query, AccountState? State)
{
    public static StatusView Default { get; } = new(1, null, null);

    /// <summary>Offer the actions (the reader's key has the admin scope).</summary>
    public bool CanAdmin { get; init; }

    /// <summary>The key setting a session signed in as (shown with a sign-out), or null for a Bearer key or keyless mode.</summary>
    public string? SignedInAs { get; init; }

    public string? AntiforgeryToken { get; init; }

    public IReadOnlyList<string> Providers { get; init; } = [];

    public int ReloadSeconds { get; init; } = ApiOptions.DefaultStatusPageReloadSeconds;

    /// <summary>The view a query string asks for, or why it cannot be shown (naming the parameter).</summary>
    public static (StatusView? View, string? Error) Parse(IQueryCollection query)
    {
        var page = 1;
        if (query.TryGetValue("page", out var pageText) && (!int.TryParse(pageText, NumberStyles.None, CultureInfo.InvariantCulture, out page) || page < 1))
            return (null, $"'page' must be a whole number from 1 (got '{Shorten(pageText.ToString())}').");
        AccountState? state = null;
        if (query.TryGetValue("state", out var stateText) && stateText.ToString() is { Length: > 0 } named)
        {
            if (!Enum.TryParse<AccountState>(named, ignoreCase: false, out var parsed) || !Enum.IsDefined(parsed) || char.IsDigit(named[0]))
                return (null, $"'state' must be one of {string.Join(", ", Enum.GetNames<AccountState>())} (got '{Shorten(named)}').");
            state = parsed;
        }
        var text = query.TryGetValue("q", out var q) && q.ToString().Trim() is { Length: > 0 } trimmed ? trimmed : null;
        return (new StatusView(page, text, state), null);
    }

    public bool Matches(AccountStatus account) =>
        (State is null || account.State == State) &&
        (Query is null || account.AccountId.Contains(Query, StringComparison.OrdinalIgnoreCase) || account.Provider.Contains(Query, StringComparison.OrdinalIgnoreCase));

    /// <summary>This view's link to another page, keeping the filters.</summary>
    public string LinkTo(int page)
    {
        var parts = new List<string>();
        if (Query is not null) parts.Add("q=" + Uri.EscapeDataString(Query));
        if (State is { } s) parts.Add("state=" + s);
        if (page > 1) parts.Add("page=" + page.ToString(CultureInfo.InvariantCulture));
        return parts.Count == 0 ? "/" : "/?" + string.Join("&", parts);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>The status page's accounts table, its filter and paging bar, and the action dialogs.</summary>
internal static class StatusPageParts
{
    public static void Accounts(StringBuilder html, IReadOnlyList<AccountStatus> accounts, DateTimeOffset now, StatusView view)
    {
        var matching = accounts.Where(view.Matches).OrderBy(a => a.AccountId, StringComparer.Ordinal).ToList();
        var pages = Math.Max(1, (matching.Count + PageSize - 1) / PageSize);
        var page = Math.Min(view.Page, pages);
        Toolbar(html, view, matching.Count, accounts.Count);
        if (matching.Count == 0)
        {
            html.Append("<p>No account matches.</p>\n");
            return;
        }
        html.Append("<table id=\"accounts\">\n<thead><tr><th>Account</th><th>Provider</th><th>State</th><th>Access token expires</th><th>Grant ends</th>")
            .Append("<th>Next</th><th>Last error</th><th>What to do</th><th>Five-hour</th><th>Seven-day</th>")
            .Append(view.CanAdmin ? "<th>Actions</th>" : "").Append("</tr></thead>\n<tbody>\n");
        foreach (var account in matching.Skip((page - 1) * PageSize).Take(PageSize))
        {
            var state = account.State.ToString();
            html.Append("<tr data-account=\"").Append(Encode(account.AccountId)).Append("\">")
                .Append(Cell(account.AccountId))
                .Append(Cell(account.Provider))
                .Append("<td class=\"").Append(Encode(state)).Append("\">").Append(Encode(state)).Append("</td>")
                .Append(Cell(Format(account.AccessTokenExpiresAt)))
                .Append(Cell(Format(account.GrantExpiresAt)))
                .Append(Cell(Cli.AccountGuidance.NextStep(account)))
                .Append(Cell(account.LastErrorClass ?? "—"))
                .Append(Cell(Cli.AccountGuidance.Advice(account) ?? "—"))
                .Append(UsageCells(account.Usage, now));
            if (view.CanAdmin)
                html.Append(Actions(account));
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table>\n");
        if (pages > 1)
        {
            html.Append("<nav class=\"toolbar\" aria-label=\"pages\">");
            if (page > 1) html.Append("<a id=\"previous\" href=\"").Append(Encode(view.LinkTo(page - 1))).Append("\">Previous</a>");
            html.Append("<span id=\"page\">").Append(Encode(string.Create(CultureInfo.InvariantCulture,
                $"page {page} of {pages}: {(page - 1) * PageSize + 1}–{Math.Min(page * PageSize, matching.Count)} of {matching.Count}"))).Append("</span>");
            if (page < pages) html.Append("<a id=\"next\" href=\"").Append(Encode(view.LinkTo(page + 1))).Append("\">Next</a>");
            html.Append("</nav>\n");
        }
    }

    /// <summary>The filter form (a plain GET form: it works without the script) and the add-account button.</summary>
    public static void Toolbar(StringBuilder html, StatusView view, int matching, int total)
    {
        html.Append("<div class=\"toolbar\">");
        if (total > 0)
        {
            html.Append("<form method=\"get\" action=\"/\" id=\"filter\"><input type=\"search\" name=\"q\" placeholder=\"account or provider\" value=\"")
                .Append(Encode(view.Query ?? "")).Append("\"> <select name=\"state\"><option value=\"\">any state</option>");
            foreach (var state in Enum.GetNames<AccountState>())
                html.Append("<option").Append(view.State?.ToString() == state ? " selected" : "").Append('>').Append(state).Append("</option>");
            html.Append("</select> <button type=\"submit\">Filter</button></form>")
                .Append("<span id=\"count\">").Append(Encode(string.Create(CultureInfo.InvariantCulture,
                    $"{matching} of {total} account{(total == 1 ? "" : "s")}"))).Append("</span>");
        }
        if (view.CanAdmin)
            html.Append("<button type=\"button\" id=\"add-open\">Add account</button>");
        html.Append("</div>\n");
    }

    /// <summary>The row's buttons: what an operator can do about the account in its state.</summary>
    private static string Actions(AccountStatus account)
    {
        var id = Encode(account.AccountId);
        var cell = new StringBuilder("<td class=\"actions\">");
        void Button(string action, string label) =>
            cell.Append("<button type=\"button\" data-action=\"").Append(action).Append("\" data-account=\"").Append(id).Append("\">")
                .Append(label).Append("</button> ");
        if (account.State == AccountState.PolicyBlocked)
            Button("unblock", "Unblock");
        else if (account.State != AccountState.Refreshing)
            Button("refresh", "Refresh");
        if (account.LastErrorClass is "grant_rejected" or "interrupted_refresh" || account.RefreshTokenMaybeSpent || account.GrantNoticeDays is not null)
            Button("login", "Log in again");
        return cell.Append("</td>").ToString();
    }

    /// <summary>
    /// The two dialogs the script drives: a login (the provider's page to open and the code to paste back, or a device
    /// login's user code) and the add-account form (log in, or paste a refresh token).
    /// </summary>
    public static void Dialogs(StringBuilder html, StatusView view)
    {
        html.Append("""
            <dialog id="login-dialog"><form id="login-form" method="dialog">
            <h2>Log in <span id="login-account"></span></h2>
            <p id="login-link" hidden><a id="login-url" target="_blank" rel="noopener noreferrer">Open the provider's login page</a>, sign in, then paste the code it shows:</p>
            <label id="login-code-label" hidden>Code <input id="login-code" autocomplete="off" size="60"></label>
            <p id="login-device" hidden>Enter the code <strong id="login-user-code"></strong> at <a id="login-verification" target="_blank" rel="noopener noreferrer"></a>; this page waits for it.</p>
            <p id="login-error" class="error" role="alert"></p>
            <button type="submit" id="login-submit" hidden>Log in</button> <button type="button" id="login-cancel">Close</button>
            </form></dialog>
            <dialog id="add-dialog"><form id="add-form" method="dialog">
            <h2>Add account</h2>
            <label>Account id <input id="add-id" required pattern="[A-Za-z0-9@._:\-]{1,128}" autocomplete="off"></label>
            <label>Provider <select id="add-provider">
            """);
        foreach (var provider in view.Providers)
            html.Append("<option>").Append(Encode(provider)).Append("</option>");
        html.Append("""
            </select></label>
            <label><input type="radio" name="add-how" value="login" checked> log in with the provider</label>
            <label><input type="radio" name="add-how" value="device"> log in with a device code (providers with a device endpoint)</label>
            <label><input type="radio" name="add-how" value="token"> paste a refresh token</label>
            <label id="add-token-label" hidden>Refresh token <input id="add-token" type="password" autocomplete="off"></label>
            <p id="add-error" class="error" role="alert"></p>
            <button type="submit" id="add-submit">Add</button> <button type="button" id="add-cancel">Close</button>
            </form></dialog>

            """);
    }
}
