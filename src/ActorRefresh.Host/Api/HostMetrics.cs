using System.Diagnostics.Metrics;

namespace ActorRefresh.Host.Api;

/// <summary>The host's instruments on meter <see cref="MeterName"/>. Labels never carry an account id or a token.</summary>
internal sealed class HostMetrics
{
    public const string MeterName = "ActorRefresh";

    private readonly Counter<long> _tokenRequests;

    public HostMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _tokenRequests = meter.CreateCounter<long>("actorrefresh_http_token_requests",
            description: "Token requests over HTTP, by answer (served, backing_off, blocked, not_found, error).");
    }

    public void TokenRequest(string answer) => _tokenRequests.Add(1, new KeyValuePair<string, object?>("answer", answer));

    public static class Answers
    {
        public const string Served = "served";
        public const string BackingOff = "backing_off";
        public const string Blocked = "blocked";
        public const string NotFound = "not_found";
        public const string Error = "error";
    }
}
