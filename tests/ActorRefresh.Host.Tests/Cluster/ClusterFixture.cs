using System.Net.Http.Json;
using ActorRefresh.Testing;
using System.Text.Json;
using ActorRefresh.TestKit;
using Npgsql;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>Runs only where PostgreSQL is available (tests/run.sh); in CI a missing database fails the tests instead.</summary>
public sealed class ClusterFactAttribute : FactAttribute
{
    public ClusterFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(ClusterFixture.PgVariable)) && !ClusterFixture.InCi)
            Skip = $"{ClusterFixture.PgVariable} is not set: run tests/run.sh, which starts a throwaway PostgreSQL.";
    }
}

/// <summary>
/// Three real <c>actor-refresh serve --cluster</c> processes with test timings, one fresh PostgreSQL database for the
/// class, and the fake token server in this process. Tests that take a node away call <see cref="EnsureThreeNodesAsync"/>
/// first thing, which starts replacements.
/// </summary>
public class ClusterFixture : IAsyncLifetime
{
    public const string PgVariable = "ACTORREFRESH_TEST_PG";
    // A token is refreshed a quarter of its lifetime before it expires (when that is below RefreshLead): 3 s tokens are
    // refreshed about every 2.2 s, so refreshes run all the time.
    public static readonly TimeSpan TokenLifetime = TimeSpan.FromSeconds(3);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-cluster-" + Guid.NewGuid().ToString("N"));
    private readonly string _database = "actorrefresh_cluster_" + Guid.NewGuid().ToString("N")[..12];
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal);
    private readonly List<int> _seedPorts = [];
    private string? _adminConnection;
    private int _started;

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public FakeTokenServer Server { get; private set; } = null!;

    public List<ClusterNode> Nodes { get; } = [];

    /// <summary>From starting the three processes until every node saw three members Up and answered ready.</summary>
    public TimeSpan FormedAfter { get; private set; }

    public async Task InitializeAsync()
    {
        _adminConnection = AdminConnection();
        if (string.IsNullOrWhiteSpace(_adminConnection))
        {
            if (InCi) throw new InvalidOperationException($"{PgVariable} is not set: the cluster tests need PostgreSQL (tests/run.sh starts one).");
            return;
        }
        await using (var connection = new NpgsqlConnection(_adminConnection))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{_database}\"", connection);
            await create.ExecuteNonQueryAsync();
        }
        var node = new NpgsqlConnectionStringBuilder(_adminConnection) { Database = _database, MaxPoolSize = 20 };

        Server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { AccessTokenLifetime = TokenLifetime, Latency = TimeSpan.FromMilliseconds(300) });
        _environment["ActorRefresh__Cluster__Timings"] = "test";
        _environment["ActorRefresh__Storage__ConnectionString"] = node.ConnectionString;
        _environment["ActorRefresh__Storage__EncryptionKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        _environment["ActorRefresh__Providers__claude__TokenEndpoint"] = Server.TokenEndpoint.ToString();
        // With 3 s tokens the lead is 0.75 s (a quarter of the lifetime, below RefreshLead): accounts refresh on their own
        // every couple of seconds.
        // A recovered open intent is waited out until its deadline (request timeout + grace after the call began): short
        // ones keep failovers in these tests to seconds. Longer than the slowest scripted answer (4 s) the tests expect.
        _environment["ActorRefresh__Providers__claude__RequestTimeout"] = "00:00:06";
        _environment["ActorRefresh__Engine__RequestTimeoutGrace"] = "00:00:01";
        _environment["ActorRefresh__Engine__RefreshLead"] = "00:00:05";
        _environment["ActorRefresh__Engine__RefreshJitter"] = "00:00:00.500";
        _environment["ActorRefresh__Engine__MinimumValidity"] = "00:00:01";
        _environment["Serilog__MinimumLevel__Default"] = "Information";
        Configure(_environment);

        for (var i = 0; i < 3; i++) _seedPorts.Add(ClusterNode.FreePort());
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var port in _seedPorts) Nodes.Add(StartNode(ClusterNode.FreePort(), port, UsesSeedNodes ? _seedPorts : []));
        await WaitForMembersAsync(3);
        FormedAfter = clock.Elapsed;
    }

    /// <summary>
    /// Creates the account at the fake server and registers it on the first node with an access token said to last an
    /// hour: fresh everywhere for the whole test, so nothing but the refreshes a test forces reaches the provider.
    /// </summary>
    public async Task<FakeAccountTokens> RegisterWithHourLongTokenAsync(string id)
    {
        var issued = Server.CreateAccount(id);
        using var register = await Nodes[0].Http.PostAsJsonAsync("v1/accounts", new
        {
            id,
            provider = "claude",
            refreshToken = issued.RefreshToken,
            accessToken = issued.AccessToken,
            expiresAt = DateTimeOffset.UtcNow.AddHours(1),
        });
        Assert.True(register.StatusCode == System.Net.HttpStatusCode.Created, $"register {id}: {(int)register.StatusCode} {await register.Content.ReadAsStringAsync()}");
        return issued;
    }

    /// <summary>Replaces nodes that exited with new ones (new ports) and waits until three members are up and reachable.</summary>
    public async Task EnsureThreeNodesAsync()
    {
        Assert.False(string.IsNullOrWhiteSpace(_adminConnection), $"{PgVariable} is not set.");
        Nodes.RemoveAll(n => n.HasExited);
        var seeds = Nodes.Select(n => n.AkkaPort).ToList();
        while (Nodes.Count < 3) Nodes.Add(StartNode(ClusterNode.FreePort(), ClusterNode.FreePort(), seeds));
        await WaitForMembersAsync(3);
    }

    /// <summary>Starts one more node (new ports, seeded by the running ones) without waiting for it to join.</summary>
    public ClusterNode StartNode()
    {
        Nodes.RemoveAll(n => n.HasExited);
        var node = StartNode(ClusterNode.FreePort(), ClusterNode.FreePort(), Nodes.Select(n => n.AkkaPort).ToList());
        Nodes.Add(node);
        return node;
    }

    public async Task<ClusterNode> HostOfAsync(string accountId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            foreach (var node in Nodes.Where(n => !n.HasExited))
            {
                if (await node.HostsAsync(accountId)) return node;
            }
            await Task.Delay(100, timeout.Token);
        }
    }

    public string Logs() => string.Join("\n", Nodes.Select(n => $"==== node {n.HttpPort} ====\n" + Tail(n.Log, 60)));

    /// <summary>The PostgreSQL server the class's database is created on (tests/run.sh's shared one unless overridden).</summary>
    protected virtual string? AdminConnection() => Environment.GetEnvironmentVariable(PgVariable);

    /// <summary>Changes the nodes' environment (settings) before they start.</summary>
    protected virtual void Configure(IDictionary<string, string> environment)
    {
    }

    /// <summary>False: the first three nodes get no <c>--seed-nodes</c> (they find each other by discovery, set in <see cref="Configure"/>).</summary>
    protected virtual bool UsesSeedNodes => true;

    /// <summary>Settings of the node started as number <paramref name="index"/> (from 0), over the shared environment.</summary>
    protected virtual IReadOnlyDictionary<string, string> NodeEnvironment(int index) => new Dictionary<string, string>();

    public virtual async Task DisposeAsync()
    {
        await Task.WhenAll(Nodes.Select(n => n.DisposeAsync().AsTask()));
        if (Server is not null) await Server.DisposeAsync();
        if (!string.IsNullOrWhiteSpace(_adminConnection))
        {
            await using var connection = new NpgsqlConnection(_adminConnection);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_database}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private ClusterNode StartNode(int httpPort, int akkaPort, IReadOnlyList<int> seeds)
    {
        var index = Interlocked.Increment(ref _started);
        var environment = new Dictionary<string, string>(_environment, StringComparer.Ordinal);
        foreach (var (key, value) in NodeEnvironment(index - 1)) environment[key] = value;
        return ClusterNode.Start(HostDll, httpPort, akkaPort, seeds, environment, Path.Combine(_directory, "node" + index));
    }

    public async Task WaitForMembersAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var ready = 0;
            foreach (var node in Nodes)
            {
                // Which node, and how: one started for this wait, or one left running by an earlier step that went away.
                if (node.HasExited)
                    Assert.Fail($"Cluster node {node.HttpPort} (akka {node.AkkaPort}) exited with code {node.ExitCode} while waiting for {count} members:\n{Tail(node.Log, 120)}\n{Logs()}");
                if (await node.ClusterAsync() is { } c)
                {
                    var members = c.GetProperty("members").EnumerateArray().ToList();
                    // Up and reachable is not yet ready: /readyz answers once the account directory (a cluster
                    // singleton) does, which every registration needs.
                    if (members.Count == count && members.All(m => m.GetProperty("status").GetString() == "Up" && m.GetProperty("reachable").GetBoolean())
                        && await IsReadyAsync(node))
                        ready++;
                }
            }
            if (ready == Nodes.Count) return;
            if (timeout.IsCancellationRequested) throw new TimeoutException("The cluster did not form in 60 s:\n" + Logs());
            await Task.Delay(200);
        }
    }

    private static async Task<bool> IsReadyAsync(ClusterNode node)
    {
        try
        {
            using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var ready = await node.Http.GetAsync("readyz", probe.Token);
            if (ready.StatusCode != System.Net.HttpStatusCode.OK) return false;
            // Ready in cluster mode includes Akka.Cluster.Hosting's membership check (this node is Up).
            var checks = JsonDocument.Parse(await ready.Content.ReadAsStringAsync(probe.Token)).RootElement.GetProperty("checks");
            Assert.Equal("Healthy", checks.GetProperty("akka.cluster.join").GetString());
            return true;
        }
        catch (Exception e) when (ClusterNode.IsNoAnswer(e))
        {
            return false;
        }
    }

    private static string Tail(string log, int lines) => string.Join('\n', log.Split('\n').TakeLast(lines));

    /// <summary>The built Host next to this test's build: src/ActorRefresh.Host/bin/&lt;configuration&gt;/net10.0/actor-refresh.dll.</summary>
    internal static string HostDll
    {
        get
        {
            var testDir = new DirectoryInfo(AppContext.BaseDirectory);
            var framework = testDir.Name;
            var configuration = testDir.Parent!.Name;
            var root = testDir.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
            var dll = Path.Combine(root, "src", "ActorRefresh.Host", "bin", configuration, framework, "actor-refresh.dll");
            if (!File.Exists(dll)) throw new FileNotFoundException($"Build the Host first: {dll} does not exist.", dll);
            return dll;
        }
    }
}
