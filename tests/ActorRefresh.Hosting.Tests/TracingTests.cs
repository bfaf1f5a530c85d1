using System.Diagnostics;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Observability;
using ActorRefresh.Engine.Pools;
using ActorRefresh.TestKit;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace ActorRefresh.Hosting.Tests;

/// <summary>The engine's spans, as OpenTelemetry's in-memory exporter receives them.</summary>
[Collection(HostCollection.Name)]
public sealed class TracingTests
{
    [Fact]
    public async Task A_refresh_is_one_client_span_with_account_provider_and_outcome_and_no_token()
    {
        // Other engines in this process share the source: this test's spans are told apart by its own account id.
        var account = "traced-" + Guid.NewGuid().ToString("N")[..8];
        var exported = new ExportedSpans();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(ActorRefreshDiagnostics.ActivitySourceName)
            .AddInMemoryExporter(exported)
            .Build();
        Activity[] Spans() // exported at each span's end; other engines' spans are left out by account id
        {
            lock (exported) return [.. exported.Where(a => Equals(a.GetTagItem(ActorRefreshDiagnostics.AccountTag), account))];
        }

        await using var engine = await HostedEngine.StartAsync();
        var tokens = engine.Server.CreateAccount(account);
        await engine.Accounts.RegisterAsync(new AccountCredentials(account, "claude", new Secret(tokens.RefreshToken)));
        var before = DateTimeOffset.UtcNow;
        var token = await engine.Tokens.GetTokenAsync(account);
        Assert.Equal(1, engine.Server.RefreshCalls(account));

        var span = Assert.Single(Spans(), s => s.OperationName == "actorrefresh.refresh");
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.Equal("claude", span.GetTagItem(ActorRefreshDiagnostics.ProviderTag));
        Assert.Equal("refreshed", span.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
        Assert.Equal(ActivityStatusCode.Ok, span.Status);
        Assert.InRange(span.StartTimeUtc, before.UtcDateTime.AddSeconds(-1), DateTime.UtcNow);
        Assert.True(span.Duration > TimeSpan.Zero, $"duration {span.Duration}");
        var values = string.Join("|", span.TagObjects.Select(t => t.Value?.ToString()));
        Assert.DoesNotContain(tokens.RefreshToken, values, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Value.Reveal(), values, StringComparison.Ordinal);

        // A failed call is a span too, marked as an error with its outcome.
        engine.Server.Script(account, FakeFault.ServerError(500));
        await engine.Accounts.ForceRefreshAsync(account);
        var deadline = Stopwatch.StartNew();
        while (!Spans().Any(s => s.Status == ActivityStatusCode.Error) && deadline.Elapsed < TimeSpan.FromSeconds(20))
            await Task.Delay(20); // the outcome is recorded when the answer reaches the account
        Assert.Equal(2, engine.Server.RefreshCalls(account));
        var failed = Assert.Single(Spans(), s => s.OperationName == "actorrefresh.refresh" && s.Status == ActivityStatusCode.Error);
        Assert.Equal("transient", failed.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
    }

    [Fact]
    public async Task A_lease_is_one_internal_span_with_pool_account_and_result_as_a_child_of_the_caller_s_activity()
    {
        var pool = "traced-pool-" + Guid.NewGuid().ToString("N")[..8];
        var exported = new ExportedSpans();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(ActorRefreshDiagnostics.ActivitySourceName, "caller")
            .AddInMemoryExporter(exported)
            .Build();
        Activity[] Spans()
        {
            lock (exported) return [.. exported.Where(a => Equals(a.GetTagItem(ActorRefreshDiagnostics.PoolTag), pool))];
        }

        await using var engine = await HostedEngine.StartAsync();
        var account = pool + "-a";
        var tokens = engine.Server.CreateAccount(account);
        await engine.Accounts.RegisterAsync(new AccountCredentials(account, "claude", new Secret(tokens.RefreshToken),
            new Secret(tokens.AccessToken), DateTimeOffset.UtcNow.AddHours(1)));
        engine.Pools.DefinePool(new PoolDefinition(pool, [account]));

        using var source = new ActivitySource("caller");
        AccountLease lease;
        ActivityTraceId trace;
        using (var caller = source.StartActivity("request"))
        {
            trace = caller!.TraceId;
            lease = await engine.Pools.LeaseAsync(pool);
        }

        var span = Assert.Single(Spans());
        Assert.Equal("actorrefresh.lease", span.OperationName);
        Assert.Equal(ActivityKind.Internal, span.Kind);
        Assert.Equal(trace, span.TraceId);
        Assert.Equal(account, span.GetTagItem(ActorRefreshDiagnostics.AccountTag));
        Assert.Equal("leased", span.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
        Assert.Equal(ActivityStatusCode.Ok, span.Status);
        Assert.DoesNotContain(lease.Token.Value.Reveal(), string.Join("|", span.TagObjects.Select(t => t.Value?.ToString())), StringComparison.Ordinal);

        // No usable member: an error span with the result.
        await engine.Accounts.BlockAsync(account, "maintenance");
        await Assert.ThrowsAsync<NoUsableAccountException>(() => engine.Pools.LeaseAsync(pool).AsTask());
        var refused = Assert.Single(Spans(), s => s.Status == ActivityStatusCode.Error);
        Assert.Equal("none_usable", refused.GetTagItem(ActorRefreshDiagnostics.OutcomeTag));
    }

    /// <summary>The exporter's list; engines of other tests export into it from their own threads.</summary>
    private sealed class ExportedSpans : System.Collections.ObjectModel.Collection<Activity>
    {
        protected override void InsertItem(int index, Activity item)
        {
            lock (this) base.InsertItem(index, item);
        }
    }
}
