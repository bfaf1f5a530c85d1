using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using ActorRefresh.TestKit;
using Npgsql;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>A store reopened with another encryption key stops the server at start, naming both key ids; it never serves a token.</summary>
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
    public async Task A_store_opened_with_another_key_refuses_to_start_naming_both_key_ids()
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

        // The store is checked at start: one clear message naming both key ids, and the server does not start.
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var second = await HostProcess.StartAsync(ApiKey, Environment(wrong), TimeSpan.FromSeconds(30));
        });
        Mentions(refused, "before it was healthy");
        Mentions(refused, $"encrypted with key id {KeyId(right)}");
        Mentions(refused, $"has id {KeyId(wrong)}");
        Assert.DoesNotContain(issued.RefreshToken, refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("recovery failed", refused.Message, StringComparison.Ordinal);

        // The right key still opens it.
        await using var third = await HostProcess.StartAsync(ApiKey, Environment(right));
        Assert.Equal(HttpStatusCode.OK, (await third.Client.GetAsync("v1/accounts/wk/token")).StatusCode);
    }

    private static readonly string? Postgres = System.Environment.GetEnvironmentVariable("ACTORREFRESH_TEST_PG");

    [Fact]
    public async Task A_postgres_store_opened_with_another_key_refuses_to_start_naming_the_setting()
    {
        if (string.IsNullOrWhiteSpace(Postgres)) return; // tests/run.sh (tests/pg.sh) starts a throwaway PostgreSQL and sets it
        var database = "actorrefresh_wrongkey_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(Postgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var connection = new NpgsqlConnectionStringBuilder(Postgres) { Database = database }.ConnectionString;
        var keyA = RandomNumberGenerator.GetBytes(32);
        var keyB = RandomNumberGenerator.GetBytes(32);
        Dictionary<string, string?> Environment(byte[] key) => new()
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Storage__Provider"] = "PostgreSql",
            ["ActorRefresh__Storage__ConnectionString"] = connection,
            ["ActorRefresh__Storage__EncryptionKey"] = Convert.ToBase64String(key),
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
        };
        var issued = _server.CreateAccount("pk");
        await using (var first = await HostProcess.StartAsync(ApiKey, Environment(keyA)))
        {
            var register = await first.Client.PostAsJsonAsync("v1/accounts", new { id = "pk", provider = "claude", refreshToken = issued.RefreshToken });
            Assert.Equal(HttpStatusCode.Created, register.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await first.Client.GetAsync("v1/accounts/pk/token")).StatusCode);
        }

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var second = await HostProcess.StartAsync(ApiKey, Environment(keyB), TimeSpan.FromSeconds(30));
        });
        Mentions(refused, "before it was healthy");
        Mentions(refused, $"encrypted with key id {KeyId(keyA)}");
        Mentions(refused, $"has id {KeyId(keyB)}");
        Mentions(refused, "ActorRefresh:Storage:EncryptionKey");
        Mentions(refused, $"PostgreSQL database '{database}'");
        Assert.DoesNotContain(issued.RefreshToken, refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("recovery failed", refused.Message, StringComparison.Ordinal);

        await using var third = await HostProcess.StartAsync(ApiKey, Environment(keyA));
        Assert.Equal(HttpStatusCode.OK, (await third.Client.GetAsync("v1/accounts/pk/token")).StatusCode);
    }

    // xUnit cuts a long string in a Contains failure: the whole refusal (the server's log) is what tells why it stopped.
    private static void Mentions(Exception refused, string expected) =>
        Assert.True(refused.Message.Contains(expected, StringComparison.Ordinal), $"'{expected}' not in the refusal:\n{refused.Message}");

    // The documented key id: the first 8 hex digits of HMAC-SHA256(key, "ActorRefresh.key-id").
    private static string KeyId(byte[] key) => Convert.ToHexStringLower(HMACSHA256.HashData(key, "ActorRefresh.key-id"u8))[..8];
}
