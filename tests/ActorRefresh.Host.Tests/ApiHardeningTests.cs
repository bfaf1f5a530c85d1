using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Host.Api;
using ActorRefresh.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// The smaller hardening rules of the API: answers carrying tokens are never cached, keys are long enough and may
/// come from a private file, plain HTTP stays on loopback, listen URLs are read as Kestrel reads them, and failed
/// keys are throttled per peer address.
/// </summary>
public sealed class ApiHardeningTests
{
    private const string Access = "sk-ant-oat01-HARDENING-ACCESS";

    [Fact]
    public async Task Token_lease_and_every_v1_answer_say_no_store()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("acct", "claude", new Secret("rt"), new Secret(Access), BrokerServer.Now.AddHours(1)));
        server.Tokens.DefinePool(new PoolDefinition("main", ["acct"]));
        server.Tokens.Leases["main"] = () => new AccountLease("acct", new AccessToken(new Secret(Access), BrokerServer.Now.AddHours(1)));
        foreach (var path in new[] { "v1/accounts/acct/token", "v1/pools/main/lease", "v1/accounts/acct", "v1/accounts/ghost/token", "" })
        {
            var response = await server.Client.GetAsync(path);
            Assert.True(response.Headers.CacheControl?.NoStore == true, $"GET /{path} ({(int)response.StatusCode}) has Cache-Control '{response.Headers.CacheControl}'");
        }
    }

    public static TheoryData<string> WeakKeys => new()
    {
        "short",
        "test-key-0123456789",
        new string('a', 64),
        "0123456789abcdef0123456789abcdef", // 32 hex digits: 16 bytes
        "abababababababababababababababababababababababababababab",
    };

    [Theory]
    [MemberData(nameof(WeakKeys))]
    public void A_key_with_less_than_32_bytes_of_entropy_is_refused_at_start_naming_the_setting(string key)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Build(["http://127.0.0.1:0"], new() { ["ActorRefresh:Api:Key"] = key }));
        Assert.Contains("ActorRefresh:Api:Key", error.Message, StringComparison.Ordinal);
        Assert.Contains("32 bytes", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_from_openssl_rand_are_accepted()
    {
        await using var base64 = Build(["http://127.0.0.1:0"], new() { ["ActorRefresh:Api:Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        await using var hex = Build(["http://127.0.0.1:0"], new() { ["ActorRefresh:Api:Key"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) });
    }

    [Fact]
    public async Task The_key_can_come_from_a_private_file_and_a_bad_file_is_refused_naming_it()
    {
        var folder = Directory.CreateTempSubdirectory("actorrefresh-keyfile-").FullName;
        try
        {
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            var file = Path.Combine(folder, "api.key");
            File.WriteAllText(file, key + "\n");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);

            await using (var server = await BrokerServer.StartAsync(key: null, new() { ["ActorRefresh:Api:KeyFile"] = file }))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.GetAsync("v1/accounts")).StatusCode);
                using var request = new HttpRequestMessage(HttpMethod.Get, "v1/accounts");
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
                Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.SendAsync(request)).StatusCode);
            }

            void Refused(string path, string reason, Dictionary<string, string?>? more = null)
            {
                var settings = new Dictionary<string, string?> { ["ActorRefresh:Api:KeyFile"] = path };
                foreach (var (k, v) in more ?? []) settings[k] = v;
                var error = Assert.Throws<InvalidOperationException>(() => Build(["http://127.0.0.1:0"], settings));
                Assert.Contains("ActorRefresh:Api:KeyFile", error.Message, StringComparison.Ordinal);
                Assert.Contains(reason, error.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
            }

            Refused(Path.Combine(folder, "missing.key"), "missing.key");
            Refused(file, "both", new() { ["ActorRefresh:Api:Key"] = key });

            var link = Path.Combine(folder, "link.key");
            File.CreateSymbolicLink(link, file);
            Refused(link, "symbolic link");

            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            Refused(file, "group or others");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);

            Chown(file, 4242);
            Refused(file, "owned by");
            Chown(file, 0);

            File.WriteAllText(file, "short");
            Refused(file, "32 bytes");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://192.168.1.10:5080")]
    [InlineData("http://[::]:5080")]
    public void Plain_http_on_a_non_loopback_address_needs_allow_insecure_http(string url)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var error = Assert.Throws<InvalidOperationException>(() => Build([url], new() { ["ActorRefresh:Api:Key"] = key }));
        Assert.Contains("ActorRefresh:Api:AllowInsecureHttp", error.Message, StringComparison.Ordinal);
        Assert.Contains(url, error.Message, StringComparison.Ordinal);

        using var allowed = Build([url], new() { ["ActorRefresh:Api:Key"] = key, ["ActorRefresh:Api:AllowInsecureHttp"] = "true" });
        using var https = Build([url.Replace("http://", "https://", StringComparison.Ordinal)], new() { ["ActorRefresh:Api:Key"] = key });
        using var loopback = Build(["http://127.0.0.1:0"], new() { ["ActorRefresh:Api:Key"] = key });
    }

    [Theory]
    [InlineData("http://[::1]x:5080", false)]
    [InlineData("http://127.0.0.1x:5080", false)]
    [InlineData("http://[::1]:5080/base", true)]
    [InlineData("http://LOCALHOST:5080", true)]
    [InlineData("http://unix:/tmp/actor-refresh.sock", false)]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://localhost.evil.example:80", false)]
    public void Listen_urls_are_read_as_kestrel_reads_them(string url, bool loopback) =>
        Assert.Equal(loopback, ListenGuard.IsLoopback(url));

    [Fact]
    public void A_url_kestrel_binds_to_every_address_is_refused_without_a_key()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Build(["http://[::1]x:5080"], new() { ["ActorRefresh:Api:Key"] = "" }));
        Assert.Contains("[::1]x", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failed_keys_are_throttled_per_peer_address()
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await using var server = await BrokerServer.StartAsync(key, new() { ["ActorRefresh:Api:FailedKeyLimit"] = "3" });
        using var guesser = From(IPAddress.Loopback, server.BaseAddress);
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await Get(guesser, "wrong-" + i)).StatusCode);

        // The limit is spent: even the right key is not tried from this address until the window ends.
        var throttled = await Get(guesser, key);
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.NotNull(throttled.Headers.RetryAfter);
        var problem = JsonDocument.Parse(await throttled.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("failed", problem.GetProperty("reason").GetString(), StringComparison.Ordinal);

        // Another peer (127.0.0.2 is loopback too on Linux) is not affected.
        using var other = From(IPAddress.Parse("127.0.0.2"), server.BaseAddress);
        Assert.Equal(HttpStatusCode.OK, (await Get(other, key)).StatusCode);
        // Probes stay open for the throttled peer.
        Assert.Equal(HttpStatusCode.OK, (await guesser.GetAsync("healthz")).StatusCode);
    }

    private static Task<HttpResponseMessage> Get(HttpClient client, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "v1/accounts");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client.SendAsync(request);
    }

    /// <summary>A client whose connections leave from <paramref name="source"/>.</summary>
    private static HttpClient From(IPAddress source, Uri server) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(context.DnsEndPoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = server };

    private static void Chown(string path, int uid)
    {
        using var chown = Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path]);
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    private static Microsoft.AspNetCore.Builder.WebApplication Build(string[] urls, Dictionary<string, string?> settings) =>
        ActorRefreshWebHost.Build(
            new ServeSettings(urls, ConfigOverrides: settings, LogOutput: TextWriter.Null),
            (services, _) => services.AddSingleton<ITokenProvider>(new InMemoryTokenProvider(new FakeTimeProvider())));
}
