using System.Net;
using System.Net.Http.Json;
using System.Text;
using ActorRefresh.TestKit;
using Npgsql;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// serve with the PostgreSQL store (a fresh database in the cluster tests/run.sh provides, ACTORREFRESH_TEST_PG):
/// after registrations, rotations, failures and snapshots, every table dumped as text holds none of the tokens the
/// provider issued.
/// </summary>
public sealed class PostgresSecretsTests
{
    private static readonly string? Cluster = Environment.GetEnvironmentVariable("ACTORREFRESH_TEST_PG");

    [TestPostgresFact]
    public async Task Journal_and_snapshot_tables_hold_no_token_in_clear_text()
    {
        var database = "actorrefresh_secrets_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(Cluster))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var connection = new NpgsqlConnectionStringBuilder(Cluster) { Database = database }.ConnectionString;
        var serve = new ServeFixture();
        serve.Settings["ActorRefresh:Storage:Provider"] = "PostgreSql";
        serve.Settings["ActorRefresh:Storage:ConnectionString"] = connection;
        await serve.InitializeAsync();
        try
        {
            var faults = new Dictionary<string, FakeFault?>
            {
                ["pg-a"] = null,
                ["pg-b"] = FakeFault.NoRotation,
                ["pg-c"] = FakeFault.RateLimited(TimeSpan.FromMinutes(5)),
                ["pg-d"] = FakeFault.InvalidGrant(),
            };
            foreach (var (id, fault) in faults)
            {
                var issued = serve.Server.CreateAccount(id);
                if (fault is not null) serve.Server.Script(id, fault);
                Assert.Equal(HttpStatusCode.Created, (await serve.Client.PostAsJsonAsync("v1/accounts", new
                {
                    id,
                    provider = "claude",
                    refreshToken = issued.RefreshToken,
                    accessToken = issued.AccessToken,
                    expiresAt = DateTimeOffset.UtcNow.AddSeconds(30),
                })).StatusCode);
                await serve.Client.GetAsync($"v1/accounts/{id}/token");
            }
            for (var i = 0; i < 3; i++)
            {
                // Wait until the previous refresh's outcome is journaled: a forced refresh during one is a no-op.
                var done = i + 1;
                await WaitAsync(async () => (await serve.Client.GetFromJsonAsync<System.Text.Json.JsonElement>("v1/accounts/pg-a"))
                    .GetProperty("counters").GetProperty("refreshes").GetInt64() >= done);
                await serve.Client.PostAsync("v1/accounts/pg-a/refresh", null);
            }
            await WaitAsync(async () => (await serve.Client.GetFromJsonAsync<System.Text.Json.JsonElement>("v1/accounts/pg-a"))
                .GetProperty("counters").GetProperty("refreshes").GetInt64() >= 4);
            var relogin = serve.Server.RotateExternally("pg-d");
            await serve.Client.PostAsync("v1/import/claude?id=pg-d", JsonContent.Create(new
            {
                claudeAiOauth = new { accessToken = relogin.AccessToken, refreshToken = relogin.RefreshToken, expiresAt = relogin.ExpiresAt.ToUnixTimeMilliseconds() },
            }));
            await Task.Delay(300);
        }
        finally
        {
            await serve.StopAsync();
        }

        var dump = new StringBuilder();
        await using (var db = new NpgsqlConnection(connection))
        {
            await db.OpenAsync();
            var columns = new List<(string Table, string Column, string Type)>();
            await using (var list = new NpgsqlCommand(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position", db))
            await using (var reader = await list.ExecuteReaderAsync())
                while (await reader.ReadAsync()) columns.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
            Assert.NotEmpty(columns);
            foreach (var table in columns.GroupBy(c => c.Table))
            {
                var select = string.Join(", ", table.Select(c => c.Type == "bytea" ? $"encode(\"{c.Column}\", 'escape')" : $"\"{c.Column}\"::text"));
                await using var command = new NpgsqlCommand($"SELECT {select} FROM \"{table.Key}\"", db);
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                    for (var i = 0; i < reader.FieldCount; i++)
                        dump.Append(reader.IsDBNull(i) ? "" : reader.GetString(i)).Append('\t');
            }
        }
        var text = dump.ToString();
        Assert.Contains("account-pg-a", text, StringComparison.Ordinal); // the journal was written and read back
        Assert.Contains("v3:", text, StringComparison.Ordinal);           // encrypted token fields are there
        Assert.Contains("acct", text, StringComparison.Ordinal);          // and snapshots
        var issuedTokens = serve.Server.IssuedTokens;
        Assert.True(issuedTokens.Count >= 10);
        Assert.All(issuedTokens, t => Assert.DoesNotContain(t, text, StringComparison.Ordinal));
        Assert.All(issuedTokens, t => Assert.DoesNotContain(t, serve.Log, StringComparison.Ordinal));
        await serve.DisposeAsync();
    }

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!await condition()) await Task.Delay(20, timeout.Token);
    }

    private sealed class TestPostgresFactAttribute : FactAttribute
    {
        public TestPostgresFactAttribute()
        {
            if (string.IsNullOrWhiteSpace(Cluster)) Skip = "ACTORREFRESH_TEST_PG is not set (tests/run.sh starts a throwaway PostgreSQL and sets it)";
        }
    }
}
