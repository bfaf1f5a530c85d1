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
    public const string MeterName = "ActorRefresh";

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

    internal void RefreshCompleted(string outcomeKind, TimeSpan duration)
    {
        _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", outcomeKind));
        _refreshSeconds.Record(duration.TotalSeconds);
    }

    /// <summary>Counts one token request by its answer (served, backing_off, blocked, not_found, error).</summary>
    public void TokenRequest(string answer) => _tokenRequests.Add(1, new KeyValuePair<string, object?>("answer", answer));

    internal void UsageCheck(string outcomeKind) => _usageChecks.Add(1, new KeyValuePair<string, object?>("outcome", outcomeKind));

    internal void UsageReported(string kind) => _usageReports.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>Counts one pool lease by its result (leased, leased_via_account, none_usable, pool_not_found).</summary>
    public void Lease(string result) => _leases.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void CredentialsFileRead(string result) => _credentialsFileReads.Add(1, new KeyValuePair<string, object?>("result", result));

    /// <summary>The meter of this engine instance (tests listen to their own engine only).</summary>
    internal Meter Meter => _meter;

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
