using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Observability;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Engine.Tests.Support;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Pools;

/// <summary>Usage checks and leases are counted on the ActorRefresh meter, by outcome only.</summary>
public sealed class MetricsTests(ITestOutputHelper output) : EngineTest(output)
{
    [Fact]
    public async Task Usage_checks_and_leases_are_counted_without_account_ids()
    {
        var seen = new ConcurrentBag<(string Instrument, KeyValuePair<string, object?>[] Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == EngineMetrics.MeterName && instrument.Name is "actorrefresh_usage_checks" or "actorrefresh_leases" or "actorrefresh_usage_reports")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) => seen.Add((instrument.Name, tags.ToArray())));
        listener.Start();

        await RegisterAsync("metered-account");
        Advance(TimeSpan.FromMinutes(5));
        await AwaitAssertAsync(() => Assert.Contains(seen, s => s.Instrument == "actorrefresh_usage_checks" && s.Tags.Any(t => Equals(t.Value, "observed"))), Wait);
        await AskAsync(new ReportUsage("metered-account", 429, []));
        var leaser = new PoolLeaser(new AccountPools([new PoolDefinition("metered-pool", ["metered-account"])]), Services);
        await leaser.LeaseAsync("metered-pool", (_, _) => ValueTask.FromResult<AccessToken?>(null), CancellationToken.None);
        await leaser.LeaseAsync("nope", (_, _) => ValueTask.FromResult<AccessToken?>(null), CancellationToken.None);

        Assert.Contains(seen, s => s.Instrument == "actorrefresh_leases" && s.Tags.Any(t => Equals(t.Value, "none_usable")));
        Assert.Contains(seen, s => s.Instrument == "actorrefresh_leases" && s.Tags.Any(t => Equals(t.Value, "pool_not_found")));
        Assert.Contains(seen, s => s.Instrument == "actorrefresh_usage_reports" && s.Tags.Any(t => Equals(t.Value, "rate_limited")));
        Assert.All(seen, s =>
        {
            var tag = Assert.Single(s.Tags);
            Assert.Contains(tag.Key, new[] { "outcome", "result", "kind" });
            Assert.DoesNotContain("metered", tag.Value as string ?? "");
        });
    }
}
