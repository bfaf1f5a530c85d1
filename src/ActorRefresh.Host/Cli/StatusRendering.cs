using System.Globalization;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Api;
using ActorRefresh.Hosting;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ActorRefresh.Host.Cli;

/// <summary>Spectre tables for account statuses. Markup is escaped: ids and reasons are operator data.</summary>
internal static class StatusRendering
{
    public static void WriteList(IAnsiConsole console, IReadOnlyList<AccountStatus> accounts)
    {
        if (accounts.Count == 0)
        {
            console.MarkupLine("[grey]No accounts are registered.[/]");
            return;
        }
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("Account", "Provider", "State", "Expires", "Grant ends", "Next", "Last error", "Usage");
        foreach (var a in accounts.OrderBy(a => a.AccountId, StringComparer.Ordinal))
        {
            table.AddRow(
                new Text(a.AccountId), new Text(a.Provider), State(a.State),
                new Text(Format(a.AccessTokenExpiresAt)), new Text(Format(a.GrantExpiresAt)), new Text(AccountGuidance.NextStep(a)),
                new Text(a.LastErrorClass ?? "-"), new Text(Usage(a.Usage)));
        }
        console.Write(table);
        foreach (var a in accounts.OrderBy(a => a.AccountId, StringComparer.Ordinal))
            if (AccountGuidance.Advice(a) is { } advice) console.Write(new Text($"{a.AccountId}: {advice}\n"));
    }

    public static void WriteOne(IAnsiConsole console, AccountStatus a)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        void Row(string name, IRenderable value) => grid.AddRow(new Markup($"[bold]{Markup.Escape(name)}[/]"), value);
        Row("Account", new Text(a.AccountId));
        Row("Provider", new Text(a.Provider));
        Row("State", State(a.State));
        Row("Access token expires", new Text(Format(a.AccessTokenExpiresAt)));
        Row("Grant ends", new Text(Format(a.GrantExpiresAt)));
        Row("Next refresh", new Text(Format(a.NextRefreshAt)));
        Row("Retry at", new Text(Format(a.RetryAt)));
        Row("Next", new Text(AccountGuidance.NextStep(a)));
        Row("Last error", new Text(a.LastErrorClass is null ? "-" : $"{a.LastErrorClass}: {a.LastError}"));
        if (AccountGuidance.Advice(a) is { } advice) Row("What to do", new Text(advice));
        if (a.RefreshTokenMaybeSpent)
            Row("Warning", new Markup("[yellow]a refresh was interrupted; the refresh token may be spent[/]"));
        Row("Usage", new Text(Usage(a.Usage)));
        Row("Refreshes / failures / 429s", new Text(string.Create(CultureInfo.InvariantCulture,
            $"{a.Counters.Refreshes} / {a.Counters.Failures} / {a.Counters.RateLimited}")));
        console.Write(grid);
    }

    public static void WriteCluster(IAnsiConsole console, ClusterStatus cluster)
    {
        console.MarkupLine($"[bold]{Markup.Escape(cluster.Mode)}[/] · answered by {Markup.Escape(cluster.Self)} · leader {Markup.Escape(cluster.Leader ?? "-")}");
        var table = new Table().Border(TableBorder.Rounded).AddColumns("Member", "Status", "Reachable", "Roles", "Shards", "Accounts");
        foreach (var m in cluster.Members)
        {
            table.AddRow(
                new Text(m.Address + (m.IsSelf ? " (this node)" : "") + (m.IsLeader ? " (leader)" : "")),
                new Text(m.Status),
                new Markup(m.Reachable ? "[green]yes[/]" : "[red]no[/]"),
                new Text(m.Roles.Count == 0 ? "-" : string.Join(", ", m.Roles)),
                new Text(m.Shards?.ToString(CultureInfo.InvariantCulture) ?? "?"),
                new Text(m.Accounts?.ToString(CultureInfo.InvariantCulture) ?? "?"));
        }
        console.Write(table);
    }

    public static void WritePools(IAnsiConsole console, IReadOnlyList<PoolDefinitionResponse> pools)
    {
        if (pools.Count == 0)
        {
            console.MarkupLine("[grey]No pools are defined.[/]");
            return;
        }
        var table = new Table().Border(TableBorder.Rounded).AddColumns("Pool", "Strategy", "Max utilisation", "Accounts");
        foreach (var p in pools.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            table.AddRow(new Text(p.Name), new Text(p.Strategy), new Text(Percent(p.MaxUtilisation)), new Text(string.Join(", ", p.Accounts)));
        }
        console.Write(table);
    }

    public static void WritePool(IAnsiConsole console, PoolStatusResponse pool)
    {
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"[bold]{Markup.Escape(pool.Name)}[/] · {Markup.Escape(pool.Strategy)} · max {Markup.Escape(Percent(pool.MaxUtilisation))} · usable {pool.Usable}/{pool.Total}"));
        if (pool.Usable == 0 && pool.NextUsableAt is not null)
            console.MarkupLine($"[yellow]no usable account before {Markup.Escape(Format(pool.NextUsableAt))}[/]");
        var table = new Table().Border(TableBorder.Rounded).AddColumns("Account", "State", "Utilisation", "Usable", "Usable at", "Reason");
        foreach (var m in pool.Members)
        {
            table.AddRow(
                new Text(m.AccountId),
                m.State is { } state ? State(state) : new Markup("[grey]not registered[/]"),
                new Text(Percent(m.Utilisation)),
                new Markup(m.Usable ? "[green]yes[/]" : "[red]no[/]"),
                new Text(Format(m.UsableAt)),
                new Text(m.Reason ?? "-"));
        }
        console.Write(table);
    }

    /// <summary>One line about the quota: why usage is unavailable, or the windows that are known.</summary>
    internal static string Usage(AccountUsage? usage)
    {
        if (usage is null) return "-";
        if (usage.Unavailable is { } why) return $"unavailable ({why})";
        var parts = new List<string>();
        if (usage.FiveHourUtilization is { } f) parts.Add("five-hour " + Percent(f));
        if (usage.SevenDayUtilization is { } s) parts.Add("seven-day " + Percent(s));
        if (usage.QuotaCheckRetryAt is { } retry) parts.Add("checks wait until " + Format(retry));
        return parts.Count == 0 ? usage.LastCheck ?? "-" : string.Join(" · ", parts);
    }

    private static string Percent(double value) => value.ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static Markup State(AccountState state) => new(state switch
    {
        AccountState.Valid => "[green]Valid[/]",
        AccountState.Refreshing => "[blue]Refreshing[/]",
        AccountState.BackingOff => "[yellow]BackingOff[/]",
        AccountState.PolicyBlocked => "[red]PolicyBlocked[/]",
        _ => Markup.Escape(state.ToString()),
    });

    public static string Format(DateTimeOffset? value) =>
        value is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "-";
}
