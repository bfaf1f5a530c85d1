using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using ActorRefresh.TestKit;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>A store reopened with another encryption key says so, naming both key ids, and never serves a token.</summary>
public sealed class WrongKeyTests : IAsyncLifetime
{
    private static readonly string ApiKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-wrongkey-" + Guid.NewGuid().ToString("N"));
    private FakeTokenServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeTokenServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_store_opened_with_another_key_is_reported_by_key_id()
    {
        var right = RandomNumberGenerator.GetBytes(32);
        var wrong = RandomNumberGenerator.GetBytes(32);
        Dictionary<string, string?> Environment(byte[] key) => new()
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Storage__EncryptionKey"] = Convert.ToBase64String(key),
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
        };
        var issued = _server.CreateAccount("wk");
        await using (var first = await HostProcess.StartAsync(ApiKey, Environment(right)))
        {
            var register = await first.Client.PostAsJsonAsync("v1/accounts", new { id = "wk", provider = "claude", refreshToken = issued.RefreshToken });
            Assert.Equal(HttpStatusCode.Created, register.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await first.Client.GetAsync("v1/accounts/wk/token")).StatusCode);
        }

        await using var second = await HostProcess.StartAsync(ApiKey, Environment(wrong));
        var token = await second.Client.GetAsync("v1/accounts/wk/token");
        Assert.NotEqual(HttpStatusCode.OK, token.StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!second.Output.Contains("key id", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Contains($"encrypted with key id {KeyId(right)}", second.Output, StringComparison.Ordinal);
        Assert.Contains($"has id {KeyId(wrong)}", second.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(issued.RefreshToken, second.Output, StringComparison.Ordinal);
    }

    // The documented key id: the first 8 hex digits of HMAC-SHA256(key, "ActorRefresh.key-id").
    private static string KeyId(byte[] key) => Convert.ToHexStringLower(HMACSHA256.HashData(key, "ActorRefresh.key-id"u8))[..8];
}
