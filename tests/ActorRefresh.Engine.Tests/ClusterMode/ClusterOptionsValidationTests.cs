using ActorRefresh.Engine.Clustering;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>Cluster settings checked at start: TLS off loopback, one source of seed nodes; each error names its key.</summary>
public sealed class ClusterOptionsValidationTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("localhost", true)]
    [InlineData("10.0.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("gw-1.internal", false)]
    public void Plain_remoting_is_allowed_only_on_loopback(string hostname, bool allowed)
    {
        var errors = new ClusterOptions { Enabled = true, Hostname = hostname, SeedNodes = ["127.0.0.1:4053"] }.Validate();
        if (allowed) Assert.Empty(errors);
        else Assert.Contains(errors, e => e.Contains("ActorRefresh:Cluster:Tls:CertificatePath", StringComparison.Ordinal) && e.Contains("ActorRefresh:Cluster:Tls:CaPath", StringComparison.Ordinal));
    }

    [Fact]
    public void Tls_keys_are_checked_and_named()
    {
        var errors = new ClusterOptions { Enabled = true, SeedNodes = ["127.0.0.1:4053"], Tls = new ClusterTlsOptions { CertificatePath = "/nonexistent/node.pfx" } }.Validate();
        Assert.Contains(errors, e => e.StartsWith("ActorRefresh:Cluster:Tls:CertificatePath: file", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("ActorRefresh:Cluster:Tls:CaPath is required", StringComparison.Ordinal));
    }

    private static ClusterDiscoveryOptions ConfigDiscovery() => new()
    {
        Method = "config",
        ServiceName = "gateway",
        Endpoints = ["127.0.0.1:8558", "127.0.0.1:8559"],
    };

    [Fact]
    public void Seed_nodes_or_discovery_is_required_and_the_error_names_both_keys()
    {
        var errors = new ClusterOptions { Enabled = true }.Validate();
        var error = Assert.Single(errors);
        Assert.Contains("ActorRefresh:Cluster:SeedNodes", error, StringComparison.Ordinal);
        Assert.Contains("ActorRefresh:Cluster:Discovery:Method", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Seed_nodes_and_discovery_together_are_refused_naming_both_keys()
    {
        var errors = new ClusterOptions { Enabled = true, SeedNodes = ["127.0.0.1:4053"], Discovery = ConfigDiscovery() }.Validate();
        var error = Assert.Single(errors);
        Assert.Contains("ActorRefresh:Cluster:SeedNodes and ActorRefresh:Cluster:Discovery:Method are both set", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Config_discovery_alone_is_valid()
    {
        var cluster = new ClusterOptions { Enabled = true, Discovery = ConfigDiscovery() };
        Assert.Empty(cluster.Validate());
        // No akka.cluster.seed-nodes: with any, Akka.Management's bootstrap does not run.
        Assert.Empty(EngineHocon.Cluster(cluster).GetStringList("akka.cluster.seed-nodes"));
    }

    [Theory]
    [InlineData("ServiceName", "", "ActorRefresh:Cluster:Discovery:ServiceName is required")]
    [InlineData("Endpoints", "", "ActorRefresh:Cluster:Discovery:Endpoints is required")]
    [InlineData("Endpoints", "gw-1", "ActorRefresh:Cluster:Discovery:Endpoints:1 'gw-1' is not host:port")]
    [InlineData("Endpoints", "http://gw-1:8558", "ActorRefresh:Cluster:Discovery:Endpoints:1 'http://gw-1:8558' is not host:port")]
    [InlineData("Endpoints", "gw-1:70000", "ActorRefresh:Cluster:Discovery:Endpoints:1 'gw-1:70000' is not host:port")]
    [InlineData("RequiredContactPoints", "0", "ActorRefresh:Cluster:Discovery:RequiredContactPoints must be at least 1")]
    [InlineData("ManagementPort", "0", "ActorRefresh:Cluster:Discovery:ManagementPort must be between 1 and 65535")]
    [InlineData("ManagementHostname", "0.0.0.0", "ActorRefresh:Cluster:Discovery:ManagementHostname '0.0.0.0' binds every interface")]
    public void A_wrong_discovery_setting_is_named(string key, string value, string expected)
    {
        var discovery = ConfigDiscovery();
        switch (key)
        {
            case "ServiceName": discovery.ServiceName = value; break;
            case "Endpoints" when value.Length == 0: discovery.Endpoints = []; break;
            case "Endpoints": discovery.Endpoints[1] = value; break;
            case "RequiredContactPoints": discovery.RequiredContactPoints = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "ManagementPort": discovery.ManagementPort = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "ManagementHostname": discovery.ManagementHostname = value; break;
        }
        var errors = new ClusterOptions { Enabled = true, Discovery = discovery }.Validate();
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Endpoints_are_only_for_the_config_method()
    {
        var discovery = ConfigDiscovery();
        discovery.Method = "kubernetes-api";
        var errors = new ClusterOptions { Enabled = true, Discovery = discovery }.Validate();
        Assert.Contains(errors, e => e.StartsWith("ActorRefresh:Cluster:Discovery:Endpoints is read only with ActorRefresh:Cluster:Discovery:Method 'config'", StringComparison.Ordinal));
        discovery.Endpoints = [];
        Assert.Empty(new ClusterOptions { Enabled = true, Discovery = discovery }.Validate());
    }
}
