using ActorRefresh.Testing;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using ActorRefresh.TestKit;
using Npgsql;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>
/// Cluster remoting over TLS with mutual certificate checks: certificates are made here (a CA, node certificates it
/// signed, and one from another CA); two real <c>serve --cluster</c> nodes with TLS form a cluster and serve an account,
/// a third whose certificate comes from the other CA is refused and never becomes a member. A non-loopback hostname
/// without TLS refuses to start and names the keys.
/// </summary>
public sealed class ClusterTlsTests : IAsyncLifetime
{
    private const string Password = "node-pfx-password-0123456789abcdef";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-cluster-tls-" + Guid.NewGuid().ToString("N"));
    private readonly string _database = "actorrefresh_tls_" + Guid.NewGuid().ToString("N")[..12];
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal);
    private readonly List<ClusterNode> _nodes = [];
    private string? _admin;
    private FakeTokenServer? _server;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _admin = Environment.GetEnvironmentVariable(ClusterFixture.PgVariable);
        if (string.IsNullOrWhiteSpace(_admin)) return;
        await ExecuteAsync($"CREATE DATABASE \"{_database}\"");
        _server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { AccessTokenLifetime = TimeSpan.FromMinutes(10) });
        _environment["ActorRefresh__Cluster__Timings"] = "test";
        _environment["ActorRefresh__Storage__ConnectionString"] = new NpgsqlConnectionStringBuilder(_admin) { Database = _database, MaxPoolSize = 10 }.ConnectionString;
        _environment["ActorRefresh__Storage__EncryptionKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        _environment["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString();
        _environment["Serilog__MinimumLevel__Default"] = "Information";
    }

    [ClusterFact]
    public async Task Nodes_with_certificates_from_the_cluster_CA_form_a_cluster_and_a_node_with_another_CA_s_certificate_cannot_join()
    {
        using var ca = NewCa("CN=ActorRefresh Test Cluster CA");
        using var otherCa = NewCa("CN=Some Other CA");
        var caPath = WritePem("ca.pem", ca);
        var tls1 = TlsEnvironment(WritePfx("node1.pfx", ca, "CN=node1"), caPath);
        var tls2 = TlsEnvironment(WritePfx("node2.pfx", ca, "CN=node2"), caPath);
        // The intruder trusts the cluster's CA (so it would accept the nodes) but its own certificate is from another CA.
        var intruderTls = TlsEnvironment(WritePfx("intruder.pfx", otherCa, "CN=node3"), caPath);

        var seeds = new List<int> { ClusterNode.FreePort(), ClusterNode.FreePort() };
        var node1 = Start(seeds[0], seeds, tls1, "node1");
        var node2 = Start(seeds[1], seeds, tls2, "node2");
        await WaitForUpMembersAsync([node1, node2], 2, TimeSpan.FromSeconds(60));
        var status = (await node1.ClusterAsync())!.Value;
        Assert.All(status.GetProperty("members").EnumerateArray(), m => Assert.StartsWith("akka.ssl.tcp://", m.GetProperty("address").GetString()));

        // The TLS cluster serves an account registered on one node from the other.
        var id = "tls-" + Guid.NewGuid().ToString("N")[..8];
        var issued = _server!.CreateAccount(id);
        using (var register = await node1.Http.PostAsJsonAsync("v1/accounts", new { id, provider = "claude", refreshToken = issued.RefreshToken, accessToken = issued.AccessToken, expiresAt = issued.ExpiresAt }))
            Assert.Equal(HttpStatusCode.Created, register.StatusCode);
        Assert.True(await ClusterWait.WaitForAsync(async () =>
        {
            using var token = await node2.Http.GetAsync($"v1/accounts/{id}/token");
            return token.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(30)), "node2 did not serve the account\n" + node2.Tail(40));

        var intruderPort = ClusterNode.FreePort();
        var intruder = Start(intruderPort, seeds, intruderTls, "intruder");
        // Evidence the intruder tried and was refused: a member logs the refusal of its certificate.
        Assert.True(await ClusterWait.WaitForAsync(() => Task.FromResult(
                (node1.Log + node2.Log).Contains("Cluster TLS: refused the certificate", StringComparison.Ordinal)), TimeSpan.FromSeconds(60)),
            "no member refused the intruder's certificate\n==== node1\n" + node1.Tail(40) + "\n==== intruder\n" + intruder.Tail(40));
        foreach (var node in new[] { node1, node2 })
        {
            var members = (await node.ClusterAsync())!.Value.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("address").GetString()!).ToList();
            Assert.Equal(2, members.Count);
            Assert.DoesNotContain(members, a => a.EndsWith(":" + intruderPort, StringComparison.Ordinal));
        }
        // The intruder, refused by both seeds, never sees itself Up in a cluster with them.
        var own = await intruder.ClusterAsync();
        var upWithOthers = own?.GetProperty("members").EnumerateArray().Count(m => m.GetProperty("status").GetString() == "Up") ?? 0;
        Assert.True(upWithOthers <= 1, "the intruder counts other members as up");
    }

    [ClusterFact]
    public async Task A_non_loopback_hostname_without_TLS_refuses_to_start_naming_the_keys()
    {
        var environment = new Dictionary<string, string>(_environment, StringComparer.Ordinal) { ["ActorRefresh__Cluster__Hostname"] = "192.0.2.10" };
        var port = ClusterNode.FreePort();
        var node = ClusterNode.Start(ClusterFixture.HostDll, ClusterNode.FreePort(), port, [port], environment, Path.Combine(_directory, "plain"));
        _nodes.Add(node);
        Assert.True(await node.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the node did not exit");
        Assert.Contains("ActorRefresh:Cluster:Hostname '192.0.2.10' is not loopback", node.Log);
        Assert.Contains("ActorRefresh:Cluster:Tls:CertificatePath", node.Log);
        Assert.Contains("ActorRefresh:Cluster:Tls:CaPath", node.Log);
    }

    private ClusterNode Start(int akkaPort, IReadOnlyList<int> seeds, IReadOnlyDictionary<string, string> tls, string name)
    {
        var environment = new Dictionary<string, string>(_environment, StringComparer.Ordinal);
        foreach (var (k, v) in tls) environment[k] = v;
        var node = ClusterNode.Start(ClusterFixture.HostDll, ClusterNode.FreePort(), akkaPort, seeds, environment, Path.Combine(_directory, name));
        _nodes.Add(node);
        return node;
    }

    private static Dictionary<string, string> TlsEnvironment(string pfx, string ca) => new(StringComparer.Ordinal)
    {
        ["ActorRefresh__Cluster__Tls__CertificatePath"] = pfx,
        ["ActorRefresh__Cluster__Tls__CertificatePassword"] = Password,
        ["ActorRefresh__Cluster__Tls__CaPath"] = ca,
    };

    private static async Task WaitForUpMembersAsync(IReadOnlyList<ClusterNode> nodes, int count, TimeSpan timeout)
    {
        var formed = await ClusterWait.WaitForAsync(async () =>
        {
            foreach (var node in nodes)
            {
                Assert.False(node.HasExited, "a node exited:\n" + node.Tail(60));
                if (await node.ClusterAsync() is not { } c) return false;
                var members = c.GetProperty("members").EnumerateArray().ToList();
                if (members.Count != count || !members.All(m => m.GetProperty("status").GetString() == "Up")) return false;
                // Up is not yet ready: /readyz answers once the account directory (a cluster singleton) does, which a
                // registration needs; without it the first registration waited for the singleton past its client timeout.
                using var ready = await node.Http.GetAsync("readyz");
                if (ready.StatusCode != HttpStatusCode.OK) return false;
            }
            return true;
        }, timeout);
        Assert.True(formed, "the TLS cluster did not form\n" + string.Join("\n====\n", nodes.Select(n => n.Tail(40))));
    }

    private static X509Certificate2 NewCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private string WritePfx(string name, X509Certificate2 ca, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(12));
        using var withKey = signed.CopyWithPrivateKey(key);
        var path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, withKey.Export(X509ContentType.Pkcs12, Password));
        return path;
    }

    private string WritePem(string name, X509Certificate2 certificate)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, certificate.ExportCertificatePem());
        return path;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask()));
        if (_server is not null) await _server.DisposeAsync();
        if (!string.IsNullOrWhiteSpace(_admin)) await ExecuteAsync($"DROP DATABASE IF EXISTS \"{_database}\" WITH (FORCE)");
        try { Directory.Delete(_directory, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}
