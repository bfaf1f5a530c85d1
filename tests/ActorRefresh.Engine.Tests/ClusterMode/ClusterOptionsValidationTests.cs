using ActorRefresh.Engine.Clustering;

namespace ActorRefresh.Engine.Tests.ClusterMode;

/// <summary>Cluster settings checked at start: TLS off loopback; each error names its key.</summary>
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
        var errors = new ClusterOptions { Enabled = true, Hostname = hostname }.Validate();
        if (allowed) Assert.Empty(errors);
        else Assert.Contains(errors, e => e.Contains("ActorRefresh:Cluster:Tls:CertificatePath", StringComparison.Ordinal) && e.Contains("ActorRefresh:Cluster:Tls:CaPath", StringComparison.Ordinal));
    }

    [Fact]
    public void Tls_keys_are_checked_and_named()
    {
        var errors = new ClusterOptions { Enabled = true, Tls = new ClusterTlsOptions { CertificatePath = "/nonexistent/node.pfx" } }.Validate();
        Assert.Contains(errors, e => e.StartsWith("ActorRefresh:Cluster:Tls:CertificatePath: file", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("ActorRefresh:Cluster:Tls:CaPath is required", StringComparison.Ordinal));
    }
}
