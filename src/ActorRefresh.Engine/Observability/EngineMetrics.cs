using System.Diagnostics;
using System.Diagnostics.Metrics;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.ReadSide;

namespace ActorRefresh.Engine.Observability;

/// <summary>
/// The engine's instruments on the <c>ActorRefresh</c> meter. Labels carry outcome and state names only, never a
/// token; account ids only on the opt-in <c>actorrefresh_account_info</c>.
/// </summary>
internal sealed class EngineMetrics : IDisposable
{
    /// <summary>Name of the meter every ActorRefresh instrument lives on.</summary>
    public const string MeterName = ActorRefreshDiagnostics.MeterName;

    // Shared by every engine in the process, as activity sources are meant to be; a listener tells engines apart by tags.
    private static readonly ActivitySource Spans = new(ActorRefreshDiagnostics.ActivitySourceName);

    private readonly Meter _meter;
    private readonly Counter<long> _refreshes;
    private readonly Histogram<double> _refreshSeconds;
    private readonly Counter<long> _tokenRequests;
    private readonly Counter<long> _usageChecks;
    private readonly Counter<long> _usageReports;
    private readonly Counter<long> _leases;
    private readonly Counter<long> _credentialsFileReads;

    internal EngineMetrics(AccountReadSide readSide, bool perAccount = false)
    {
        _meter = new Meter(MeterName);
        _refreshes = _meter.CreateCounter<long>("actorrefresh_refreshes", description: "Refresh calls by outcome.");
        _refreshSeconds = _meter.CreateHistogram<double>("actorrefresh_refresh_duration", unit: "s", description: "Latency of token endpoint calls.");
        _tokenRequests = _meter.CreateCounter<long>("actorrefresh_token_requests", description: "Token requests by answer.");
        _usageChecks = _meter.CreateCounter<long>("actorrefresh_usage_checks", description: "Usage (quota) checks by outcome.");
        _usageReports = _meter.CreateCounter<long>("actorrefresh_usage_reports", description: "Quota reports from API responses by kind (headers, rate_limited).");
        _leases = _meter.CreateCounter<long>("actorrefresh_leases", description: "Pool leases by result.");
        _credentialsFileReads = _meter.CreateCounter<long>("actorrefresh_credentials_file_reads",
            description: "Reads of synced credentials files by result (adopted, written_back, unchanged, unreadable).");
        _meter.CreateObservableGauge("actorrefresh_accounts", () =>
            readSide.CountByState().Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>("state", kv.Key.ToString()))),
            description: "Accounts hosted on this node by state.");
        // Opt-in: one series per registered account (bounded by them), so an operator can alert on a named account.
        if (perAccount)
            _meter.CreateObservableGauge("actorrefresh_account_info", () =>
                readSide.Statuses().Select(status => new Measurement<int>(1,
                    new KeyValuePair<string, object?>("account", status.AccountId), new KeyValuePair<string, object?>("state", status.State.ToString()))),
                description: "1 per account hosted on this node, labelled with its id and state (ActorRefresh:Engine:PerAccountMetrics).");
    }

    /// <summary>
    /// Counts one refresh attempt; when its call was sent (<paramref name="start"/> not null) records the call's latency
    /// and span (from the engine's clock: virtual in tests).
    /// </summary>
    internal void RefreshCompleted(string account, string provider, string outcomeKind, bool succeeded, DateTimeOffset? start, DateTimeOffset end)
    {
        _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", outcomeKind));
        if (start is not { } s) return;
        _refreshSeconds.Record((end - s).TotalSeconds);
        Span("actorrefresh.refresh", account, provider, outcomeKind, succeeded, s, end);
    }

    /// <summary>Counts one token request by its answer (served, backing_off, blocked, not_found, error).</summary>
    public void TokenRequest(string answer) => _tokenRequests.Add(1, new KeyValuePair<string, object?>("answer", answer));

    /// <summary>Counts one usage check; records its span when the call was sent (<paramref name="start"/> not null).</summary>
    internal void UsageCheck(string account, string provider, string outcomeKind, bool succeeded, DateTimeOffset? start, DateTimeOffset end)
    {
        _usageChecks.Add(1, new KeyValuePair<string, object?>("outcome", outcomeKind));
        if (start is { } s) Span("actorrefresh.usage_check", account, provider, outcomeKind, succeeded, s, end);
    }

    // Recorded after the fact: the call's start and end come from the actor, which never holds an activity across messages.
    private static void Span(string name, string account, string provider, string outcome, bool succeeded, DateTimeOffset start, DateTimeOffset end)
    {
        if (!Spans.HasListeners()) return;
        using var activity = Spans.StartActivity(name, ActivityKind.Client, parentContext: default, startTime: start);
        if (activity is null) return;
        activity.SetTag(ActorRefreshDiagnostics.AccountTag, account);
        activity.SetTag(ActorRefreshDiagnostics.ProviderTag, provider);
        activity.SetTag(ActorRefreshDiagnostics.OutcomeTag, outcome);
        activity.SetStatus(succeeded ? ActivityStatusCode.Ok : ActivityStatusCode.Error, succeeded ? null : outcome);
        activity.SetEndTime(end.UtcDateTime);
    }

    internal void UsageReported(string kind) => _usageReports.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>
    /// Counts one pool lease by its result (leased, leased_via_account, none_usable, pool_not_found) and records its
    /// <c>actorrefresh.lease</c> span, a child of the caller's activity (the HTTP request's, say).
    /// </summary>
    internal void Lease(string result, string? pool, string? account, DateTimeOffset start, DateTimeOffset end)
    {
        _leases.Add(1, new KeyValuePair<string, object?>("result", result));
        if (!Spans.HasListeners()) return;
        using var activity = Spans.StartActivity("actorrefresh.lease", ActivityKind.Internal, parentContext: default, startTime: start);
        if (activity is null) return;
        activity.SetTag(ActorRefreshDiagnostics.PoolTag, pool);
        if (account is not null) activity.SetTag(ActorRefreshDiagnostics.AccountTag, account);
        activity.SetTag(ActorRefreshDiagnostics.OutcomeTag, result);
        var leased = result.StartsWith("leased", StringComparison.Ordinal);
        activity.SetStatus(leased ? ActivityStatusCode.Ok : ActivityStatusCode.Error, leased ? null : result);
        activity.SetEndTime(end.UtcDateTime);
    }

    internal void CredentialsFileRead(string result) => _credentialsFileReads.Add(1, new KeyValuePair<string, object?>("result", result));

    /// <summary>The meter of this engine instance (tests listen to their own engine only).</summary>
    internal Meter Meter => _meter;

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
