using System.Net;
using System.Net.Http.Json;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using ActorRefresh.Testing;
using Xunit.Abstractions;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>
/// Three <c>serve --cluster</c> nodes without <c>--seed-nodes</c>: each lists the three management endpoints in
/// <c>ActorRefresh:Cluster:Discovery</c> (method <c>config</c>) and serves its own on a loopback port.
/// </summary>
public sealed class DiscoveryClusterFixture : ClusterFixture
{
    public const string ServiceName = "actor-refresh-test";

    public List<int> ManagementPorts { get; } = [];

    protected override bool UsesSeedNodes => false;

    protected override void Configure(IDictionary<string, string> environment)
    {
        for (var i = 0; i < 3; i++) ManagementPorts.Add(ClusterNode.FreePort());
        environment["ActorRefresh__Cluster__Discovery__Method"] = "config";
        environment["ActorRefresh__Cluster__Discovery__ServiceName"] = ServiceName;
        environment["ActorRefresh__Cluster__Discovery__RequiredContactPoints"] = "3";
        for (var i = 0; i < ManagementPorts.Count; i++)
            environment[$"ActorRefresh__Cluster__Discovery__Endpoints__{i}"] = $"127.0.0.1:{ManagementPorts[i]}";
    }

    protected override IReadOnlyDictionary<string, string> NodeEnvironment(int index) => index < ManagementPorts.Count
        ? new Dictionary<string, string> { ["ActorRefresh__Cluster__Discovery__ManagementPort"] = ManagementPorts[index].ToString(System.Globalization.CultureInfo.InvariantCulture) }
        : throw new NotSupportedException("The discovery fixture lists three management endpoints: it starts no replacement nodes.");
}

/// <summary>
/// Seed nodes from discovery: the three nodes of <see cref="DiscoveryClusterFixture"/> form one cluster through
/// Akka.Management's bootstrap (the fixture waits until every node sees three members Up and is ready), and the cluster
/// serves an account registered on one node from the others.
/// </summary>
public sealed class ClusterDiscoveryTests(DiscoveryClusterFixture cluster, ITestOutputHelper output) : IClassFixture<DiscoveryClusterFixture>
{
    [ClusterFact]
    public async Task Three_nodes_with_config_discovery_and_no_seed_list_form_one_cluster_and_serve_a_token_registered_on_another_node()
    {
        output.WriteLine($"three processes started to cluster formed and ready on every node: {cluster.FormedAfter.TotalSeconds:0.0} s");
        Console.WriteLine($"[cluster] formed by config discovery in {cluster.FormedAfter.TotalSeconds:0.0} s");
        var addresses = cluster.Nodes.Select(n => n.Address).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(3, addresses.Distinct(StringComparer.Ordinal).Count());
        foreach (var node in cluster.Nodes)
        {
            var members = (await node.ClusterAsync())!.Value.GetProperty("members").EnumerateArray().ToList();
            Assert.All(members, m => Assert.Equal("Up", m.GetProperty("status").GetString()));
            Assert.Equal(addresses, members.Select(m => m.GetProperty("address").GetString()!).Order(StringComparer.Ordinal).ToList());
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < cluster.Nodes.Count; i++)
        {
            // The bootstrap's route on each node's own management endpoint: the node itself and the members it sees.
            var port = cluster.ManagementPorts[i];
            var seeds = await http.GetStringAsync($"http://127.0.0.1:{port}/bootstrap/seed-nodes");
            output.WriteLine($"node {i} /bootstrap/seed-nodes: {seeds}");
            var body = JsonDocument.Parse(seeds).RootElement;
            Assert.Contains($"{cluster.Nodes[i].AkkaPort}", body.GetProperty("SelfNode").GetRawText(), StringComparison.Ordinal);
            Assert.Equal(3, body.GetProperty("Nodes").GetArrayLength());
            // Nothing else is served there (only the bootstrap route is served).
            using var address = await http.GetAsync($"http://127.0.0.1:{port}/remote/address");
            Assert.NotEqual(HttpStatusCode.OK, address.StatusCode);
            // Bound to the node's own address (loopback), not every interface.
            if (OtherLocalAddress() is { } other)
            {
                using var socket = new Socket(other.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                var refused = await Assert.ThrowsAsync<SocketException>(async () => await socket.ConnectAsync(new IPEndPoint(other, port)));
                Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
            }
        }

        var id = "discovery-" + Guid.NewGuid().ToString("N")[..8];
        var issued = await cluster.RegisterWithHourLongTokenAsync(id);
        foreach (var node in cluster.Nodes.Skip(1))
        {
            Assert.True(await ClusterWait.WaitForAsync(async () =>
            {
                var token = await node.Http.GetFromJsonAsync<JsonElement>($"v1/accounts/{id}/token");
                return token.GetProperty("accessToken").GetString() == issued.AccessToken;
            }, TimeSpan.FromSeconds(30)), $"node {node.HttpPort} did not serve the account\n" + cluster.Logs());
        }
        Assert.Equal(0, cluster.Server.RefreshCalls(id));
    }

    /// <summary>A non-loopback IPv4 address of this machine, if it has one.</summary>
    private static IPAddress? OtherLocalAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses)
        .Select(a => a.Address)
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
