using ActorRefresh.Engine;
using Xunit.Abstractions;

namespace ActorRefresh.Hosting.Tests.Reliability;

/// <summary>
/// PostgreSQL stopped (immediate shutdown) for longer than a refresh cycle while callers keep asking, then started
/// again on the same port: the same promises as the SQLite outage. The cluster is the test's own, not the shared one.
/// </summary>
public sealed class PostgresOutageTests : OutageHarness
{
    private readonly ITestOutputHelper _output;
    private readonly PrivatePostgres? _pg;

    public PostgresOutageTests(ITestOutputHelper output) : this(PrivatePostgres.Unavailable is null ? PrivatePostgres.Create() : null, output)
    {
    }

    private PostgresOutageTests(PrivatePostgres? pg, ITestOutputHelper output)
        : base(new StorageOptions { Provider = StorageProvider.PostgreSql, ConnectionString = pg?.ConnectionString ?? "Host=127.0.0.1;Port=1", DataDirectory = Path.GetTempPath() }, output)
    {
        _pg = pg;
        _output = output;
    }

    protected override Task StartStoreAsync()
    {
        _pg?.Start();
        return Task.CompletedTask;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _pg?.Dispose();
    }

    [PrivatePostgresFact]
    public Task Stopped_postgresql_longer_than_a_refresh_cycle_then_everything_recovers() =>
        RunOutageScenarioAsync(() => _pg!.Stop(), () => _pg!.Start(), _output);
}
