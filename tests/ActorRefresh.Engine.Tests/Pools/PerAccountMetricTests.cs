using System.Diagnostics.Metrics;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Observability;
using ActorRefresh.Engine.ReadSide;

namespace ActorRefresh.Engine.Tests.Pools;

/// <summary>The opt-in per-account gauge: one series per account with its id and state, and none unless enabled.</summary>
public sealed class PerAccountMetricTests
{
    private static AccountStatus Status(string id, AccountState state) =>
        new(id, "claude", state, null, null, null, null, null, false, new AccountCounters(0, 0, 0), 1);

    private static List<(int Value, string? Account, string? State)> Observe(EngineMetrics metrics)
    {
        var seen = new List<(int, string?, string?)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Meter && instrument.Name == "actorrefresh_account_info") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            var all = tags.ToArray();
            seen.Add((value, all.FirstOrDefault(t => t.Key == "account").Value as string, all.FirstOrDefault(t => t.Key == "state").Value as string));
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }

    [Fact]
    public void Enabled_every_hosted_account_has_a_series_with_its_state()
    {
        var readSide = new AccountReadSide(TimeProvider.System);
        using var metrics = new EngineMetrics(readSide, perAccount: true);
        readSide.PublishStatus(Status("alice", AccountState.Valid));
        readSide.PublishStatus(Status("bob", AccountState.PolicyBlocked));

        var seen = Observe(metrics);
        Assert.Equal([(1, "alice", "Valid"), (1, "bob", "PolicyBlocked")], seen.OrderBy(s => s.Account).ToList());
    }

    [Fact]
    public void By_default_no_account_id_reaches_the_metrics()
    {
        var readSide = new AccountReadSide(TimeProvider.System);
        using var metrics = new EngineMetrics(readSide);
        readSide.PublishStatus(Status("alice", AccountState.Valid));
        Assert.Empty(Observe(metrics));
    }
}
