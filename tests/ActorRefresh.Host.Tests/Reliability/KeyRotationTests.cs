using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ActorRefresh.TestKit;
using ActorRefresh.Testing;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// Rotating the token encryption key over real <c>serve</c> processes, on a SQLite file and on a real PostgreSQL: key A
/// stores the accounts; B with A as previous key still serves them and rewrites every account's history under B; B alone
/// serves them; C alone is refused at start naming B's key id and its row count, with nothing lost; B serves again.
/// <c>actor-refresh storage-keys</c> reports each step. The rows are read independently of the server (every stored
/// value of every table, scanned for the key ids of token fields).
/// </summary>
public sealed partial class KeyRotationTests : IAsyncLifetime
{
    private static readonly string ApiKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private static readonly string? Postgres = System.Environment.GetEnvironmentVariable("ACTORREFRESH_TEST_PG");
    private static readonly TimeSpan RewriteTimeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-rotation-" + Guid.NewGuid().ToString("N"));
    private readonly byte[] _a = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _b = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _c = RandomNumberGenerator.GetBytes(32);
    private FakeTokenServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeTokenServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_sqlite_store_is_rotated_from_key_a_to_b_and_refuses_an_unknown_key_c_naming_b_and_its_rows()
    {
        var file = Path.Combine(_directory, "actor-refresh.db");
        await Rotate(new Dictionary<string, string?>(), () => SqliteKeyIds(file));
    }

    [Fact]
    public async Task A_postgres_store_is_rotated_from_key_a_to_b_and_refuses_an_unknown_key_c_naming_b_and_its_rows()
    {
        if (string.IsNullOrWhiteSpace(Postgres)) return; // tests/run.sh (tests/pg.sh) starts a throwaway PostgreSQL and sets it
        var database = "actorrefresh_rotation_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(Postgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        // serve gets the connection string an operator would write (Npgsql's default pooling); the test's own reads of the
        // stored rows use unpooled connections so that none stays open between the steps.
        var connection = new NpgsqlConnectionStringBuilder(Postgres) { Database = database }.ConnectionString;
        var reads = new NpgsqlConnectionStringBuilder(connection) { Pooling = false }.ConnectionString;
        await Rotate(new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__Provider"] = "PostgreSql",
            ["ActorRefresh__Storage__ConnectionString"] = connection,
        }, () => PostgresKeyIds(reads));
    }

    private async Task Rotate(Dictionary<string, string?> store, Func<Task<Dictionary<string, int>>> storedKeyIds)
    {
        string a = KeyId(_a), b = KeyId(_b), c = KeyId(_c);
        Dictionary<string, string?> Environment(byte[] key, params byte[][] previous)
        {
            var environment = new Dictionary<string, string?>(store)
            {
                ["ActorRefresh__Storage__DataDirectory"] = _directory,
                ["ActorRefresh__Storage__EncryptionKey"] = Convert.ToBase64String(key),
                ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            };
            if (previous.Length > 0) environment["ActorRefresh__Storage__PreviousEncryptionKeys"] = string.Join(",", previous.Select(Convert.ToBase64String));
            return environment;
        }
        string[] accounts = ["rot-1", "rot-2", "rot-3"];
        var served = new Dictionary<string, string>();

        // Key A: three accounts, one of them refreshed once more, so the journal holds several token events under A.
        await using (var serve = await HostProcess.StartAsync(ApiKey, Environment(_a)))
        {
            foreach (var id in accounts)
            {
                var issued = _server.CreateAccount(id);
                HttpResponseMessage register;
                try
                {
                    register = await serve.Client.PostAsJsonAsync("v1/accounts", new { id, provider = "claude", refreshToken = issued.RefreshToken });
                }
                catch (TaskCanceledException e)
                {
                    throw new TimeoutException($"registering {id} on a fresh store got no answer in time; serve's output:\n{serve.Output}", e);
                }
                Assert.Equal(HttpStatusCode.Created, register.StatusCode);
            }
            foreach (var id in accounts) served[id] = await TokenAsync(serve, id);
            served["rot-1"] = await RefreshAsync(serve, "rot-1", served["rot-1"]);
            await StopAsync(serve);
        }
        var underA = await storedKeyIds();
        Assert.Equal([a], underA.Keys);
        var report = await StorageKeysAsync(Environment(_a));
        Assert.Equal(0, report.Exit);
        Assert.Equal(underA[a], Rows(report, a, "current"));

        // B encrypts, A only decrypts: the same tokens are served, and every account's history is rewritten under B.
        var refreshCalls = accounts.Sum(_server.RefreshCalls);
        await using (var serve = await HostProcess.StartAsync(ApiKey, Environment(_b, _a)))
        {
            await AssertServed(serve, served);
            int Rewritten() => Regex.Count(serve.Output, "history rewritten under the current encryption key");
            var rows = await WaitFor(storedKeyIds, r => !r.ContainsKey(a) && Rewritten() == accounts.Length, RewriteTimeout);
            Assert.True(!rows.ContainsKey(a), $"rows still under key A {a} after {RewriteTimeout}: {Describe(rows)}\n{serve.Output}");
            Assert.Equal([b], rows.Keys);
            Assert.Equal(accounts.Length, Rewritten());
            report = await StorageKeysAsync(Environment(_b, _a));
            Assert.Equal(0, report.Exit);
            Assert.Equal(0, Rows(report, a, "previous"));
            Assert.Equal(rows[b], Rows(report, b, "current"));
            Assert.Equal([a], report.Json.GetProperty("removable").EnumerateArray().Select(e => e.GetString()));
            await AssertServed(serve, served);
            await StopAsync(serve);
        }
        Assert.Equal(refreshCalls, accounts.Sum(_server.RefreshCalls)); // served from the store, not fetched again

        // B alone: A is retired; the store still serves, and a refresh is journaled under B.
        await using (var serve = await HostProcess.StartAsync(ApiKey, Environment(_b)))
        {
            await AssertServed(serve, served);
            served["rot-2"] = await RefreshAsync(serve, "rot-2", served["rot-2"]);
            await StopAsync(serve);
        }
        var underB = await storedKeyIds();
        Assert.Equal([b], underB.Keys);

        // C alone knows no stored key: refused at start naming B's id and row count and the settings, never a key or token.
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var wrong = await HostProcess.StartAsync(ApiKey, Environment(_c), TimeSpan.FromSeconds(60));
        });
        Assert.Contains("before it was healthy", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"encrypted with key id {b} ({underB[b]} rows)", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"has id {c}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("ActorRefresh:Storage:PreviousEncryptionKeys", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("recovery failed", refused.Message, StringComparison.Ordinal);
        foreach (var secret in new[] { _a, _b, _c }.Select(Convert.ToBase64String).Concat(_server.IssuedTokens))
            Assert.DoesNotContain(secret, refused.Message, StringComparison.Ordinal);
        report = await StorageKeysAsync(Environment(_c));
        Assert.Equal(1, report.Exit);
        Assert.Equal(underB[b], Rows(report, b, "not configured"));
        Assert.Equal(0, Rows(report, c, "current"));
        Assert.Equal(underB, await storedKeyIds()); // nothing written, nothing lost

        // B again: every account is served as before.
        await using (var serve = await HostProcess.StartAsync(ApiKey, Environment(_b)))
        {
            await AssertServed(serve, served);
        }
    }

    // As an operator stops the server for a key change (SIGTERM: a graceful shutdown).
    private static async Task StopAsync(HostProcess serve)
    {
        serve.Terminate();
        Assert.True(await serve.WaitForExitAsync(TimeSpan.FromSeconds(60)), "serve did not stop:\n" + serve.Output);
    }

    private static async Task AssertServed(HostProcess serve, Dictionary<string, string> served)
    {
        foreach (var (id, token) in served)
        {
            var now = await TokenAsync(serve, id);
            Assert.True(now == token, $"{id}: another token than before the restart\n{serve.Output}");
        }
    }

    // A forced refresh; the read side publishes the new token a moment after the answer, so wait for it to change.
    private static async Task<string> RefreshAsync(HostProcess serve, string id, string before)
    {
        Assert.Equal(HttpStatusCode.OK, (await serve.Client.PostAsync($"v1/accounts/{id}/refresh", null)).StatusCode);
        var after = await WaitFor(() => TokenAsync(serve, id), t => t != before, TimeSpan.FromSeconds(10));
        Assert.NotEqual(before, after);
        return after;
    }

    private static async Task<string> TokenAsync(HostProcess serve, string id)
    {
        var answer = await serve.Client.GetAsync($"v1/accounts/{id}/token");
        Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{id}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}\n{serve.Output}");
        return (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString()!;
    }

    private static async Task<T> WaitFor<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > deadline) return value;
            await Task.Delay(200);
        }
    }

    private sealed record Report(int Exit, string Output, JsonElement Json);

    /// <summary>Runs <c>actor-refresh storage-keys --json</c> as a process with the server's settings.</summary>
    private static async Task<Report> StorageKeysAsync(Dictionary<string, string?> environment)
    {
        using var process = ServeProcess.Start(HostProcess.HostDll, ["storage-keys", "--json"], start =>
        {
            start.WorkingDirectory = AppContext.BaseDirectory;
            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ActorRefresh", StringComparison.OrdinalIgnoreCase)).ToList())
                start.Environment.Remove(key);
            start.Environment["DOTNET_NOLOGO"] = "1";
            foreach (var (key, value) in environment) start.Environment[key] = value;
        });
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)), "storage-keys did not end:\n" + process.Output);
        var line = process.Output.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith('{'));
        Assert.True(line is not null, $"no JSON report (exit {process.ExitCode}):\n{process.Output}");
        foreach (var key in environment.Where(e => e.Key.EndsWith("EncryptionKey", StringComparison.Ordinal) || e.Key.EndsWith("PreviousEncryptionKeys", StringComparison.Ordinal)))
            Assert.DoesNotContain(key.Value!, process.Output, StringComparison.Ordinal);
        return new Report(process.ExitCode, process.Output, JsonDocument.Parse(line).RootElement.Clone());
    }

    private static long Rows(Report report, string keyId, string role)
    {
        var key = report.Json.GetProperty("keys").EnumerateArray().FirstOrDefault(k => k.GetProperty("keyId").GetString() == keyId);
        Assert.True(key.ValueKind == JsonValueKind.Object, $"key id {keyId} not in the report:\n{report.Output}");
        Assert.Equal(role, key.GetProperty("role").GetString());
        return key.GetProperty("rows").GetInt64();
    }

    // Rows per key id of the token fields they hold (every text or blob value of every table).
    private static Dictionary<string, int> Count(IEnumerable<string> rows)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var row in rows)
            foreach (var id in FieldKeyId().Matches(row).Select(m => m.Groups[1].Value).Distinct())
                counts[id] = counts.GetValueOrDefault(id) + 1;
        return counts;
    }

    private static Task<Dictionary<string, int>> SqliteKeyIds(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file};Mode=ReadWrite;Pooling=False");
        connection.Open();
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        var rows = new List<string>();
        foreach (var table in tables)
        {
            using var query = connection.CreateCommand();
            query.CommandText = $"SELECT * FROM \"{table}\"";
            using var reader = query.ExecuteReader();
            while (reader.Read()) rows.Add(RowText(reader));
        }
        return Task.FromResult(Count(rows));
    }

    private static async Task<Dictionary<string, int>> PostgresKeyIds(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        var rows = new List<string>();
        foreach (var table in tables)
        {
            await using var query = new NpgsqlCommand($"SELECT * FROM \"{table}\"", connection);
            await using var reader = await query.ExecuteReaderAsync();
            while (await reader.ReadAsync()) rows.Add(RowText(reader));
        }
        return Count(rows);
    }

    private static string RowText(System.Data.Common.DbDataReader reader)
    {
        var text = new StringBuilder();
        for (var i = 0; i < reader.FieldCount; i++)
        {
            if (reader.IsDBNull(i)) continue;
            text.Append(reader.GetValue(i) switch { byte[] bytes => Encoding.UTF8.GetString(bytes), var value => value.ToString() }).Append('\n');
        }
        return text.ToString();
    }

    private static string Describe(Dictionary<string, int> rows) => string.Join(", ", rows.Select(r => $"{r.Key}: {r.Value}"));

    [GeneratedRegex("\"v[23]:([0-9a-f]{8}):")]
    private static partial Regex FieldKeyId();

    // The documented key id: the first 8 hex digits of HMAC-SHA256(key, "ActorRefresh.key-id").
    private static string KeyId(byte[] key) => Convert.ToHexStringLower(HMACSHA256.HashData(key, "ActorRefresh.key-id"u8))[..8];
}
