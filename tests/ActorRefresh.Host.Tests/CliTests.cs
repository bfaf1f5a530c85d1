using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Hosting;
using ActorRefresh.Host.Cli;
using Spectre.Console;

namespace ActorRefresh.Host.Tests;

public sealed class CliTests
{
    private sealed record Run(int ExitCode, string Output, string Error);

    private static Task<Run> RunAsync(BrokerServer? server, params string[] args) => RunWithInputAsync(server, null, args);

    private static async Task<Run> RunWithInputAsync(BrokerServer? server, string? input, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        // The key comes from the environment variable, as an operator would set it.
        var environment = new Dictionary<string, string?>
        {
            [CliApp.ApiKeyEnvironmentVariable] = server?.Key,
            [CliApp.ServerEnvironmentVariable] = server?.BaseAddress.ToString() ?? "http://127.0.0.1:1",
        };
        var app = new CliApp(output, error, console, name => environment.GetValueOrDefault(name), input is null ? null : new StringReader(input));
        var code = await app.RunAsync(args);
        return new Run(code, output.ToString(), error.ToString());
    }

    private static async Task<BrokerServer> StartAsync()
    {
        var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("cli-acct", "claude", new Secret("sk-ant-ort01-CLI-REFRESH"),
            new Secret("sk-ant-oat01-CLI-ACCESS"), BrokerServer.Now.AddHours(1)));
        return server;
    }

    [Fact]
    public async Task Add_token_registers_a_long_lived_token_read_from_standard_input()
    {
        await using var server = await StartAsync();

        var run = await RunWithInputAsync(server, "sk-ant-oat01-FROM-STDIN\n", "add-token", "--id", "setup", "--expires-at", "2027-12-01T00:00:00Z");

        Assert.True(run.ExitCode == 0, run.Error);
        var credentials = server.Tokens.CredentialsOf("setup")!;
        Assert.Null(credentials.RefreshToken);
        Assert.Equal("sk-ant-oat01-FROM-STDIN", credentials.AccessToken!.Reveal());
        Assert.Equal(new DateTimeOffset(2027, 12, 1, 0, 0, 0, TimeSpan.Zero), credentials.ExpiresAt);
        Assert.DoesNotContain("FROM-STDIN", run.Output, StringComparison.Ordinal);

        // No token, two words, or no expiry: refused with a reason, nothing registered.
        var empty = await RunWithInputAsync(server, "", "add-token", "--id", "e1", "--valid-days", "365");
        Assert.NotEqual(0, empty.ExitCode);
        Assert.Contains("no token on standard input", empty.Error, StringComparison.Ordinal);
        var noExpiry = await RunWithInputAsync(server, "sk-ant-oat01-X", "add-token", "--id", "e2");
        Assert.Contains("--expires-at", noExpiry.Error, StringComparison.Ordinal);
        Assert.Null(server.Tokens.CredentialsOf("e1"));
        Assert.Null(server.Tokens.CredentialsOf("e2"));
        // The server's refusal comes through with its reason.
        var past = await RunWithInputAsync(server, "sk-ant-oat01-X", "add-token", "--id", "e3", "--expires-at", "2020-01-01T00:00:00Z");
        Assert.Contains("cannot be renewed", past.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Materialize_once_writes_the_access_token_without_the_refresh_token()
    {
        await using var server = await StartAsync();
        var folder = Directory.CreateTempSubdirectory("actorrefresh-cli-materialize-");
        try
        {
            var path = Path.Combine(folder.FullName, ".credentials.json");
            var run = await RunAsync(server, "materialize", "cli-acct", "--path", path, "--once");
            Assert.True(run.ExitCode == 0, run.Error);
            var text = File.ReadAllText(path);
            Assert.Contains("\"accessToken\": \"sk-ant-oat01-CLI-ACCESS\"", text, StringComparison.Ordinal);
            Assert.DoesNotContain("CLI-REFRESH", text, StringComparison.Ordinal);
            Assert.DoesNotContain("refreshToken", text, StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

            var env = Path.Combine(folder.FullName, "claude.env");
            Assert.Equal(0, (await RunAsync(server, "materialize", "cli-acct", "--path", env, "--format", "env", "--once")).ExitCode);
            Assert.Equal("CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-CLI-ACCESS\n", File.ReadAllText(env));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Materialize_keeps_the_file_current_until_stopped()
    {
        await using var server = await StartAsync();
        var folder = Directory.CreateTempSubdirectory("actorrefresh-cli-materialize-");
        try
        {
            var path = Path.Combine(folder.FullName, "token");
            var environment = new Dictionary<string, string?>
            {
                [CliApp.ApiKeyEnvironmentVariable] = server.Key,
                [CliApp.ServerEnvironmentVariable] = server.BaseAddress.ToString(),
            };
            using var stop = new CancellationTokenSource();
            var app = new CliApp(new StringWriter(), new StringWriter(), new Spectre.Console.Testing.TestConsole(), name => environment.GetValueOrDefault(name));
            var running = app.RunAsync(["materialize", "cli-acct", "--path", path, "--format", "token", "--interval", "00:00:00.050"], stop.Token);

            await WaitForFileAsync(path, "sk-ant-oat01-CLI-ACCESS\n");
            await server.Tokens.ForceRefreshAsync("cli-acct");
            var rotated = (await server.Tokens.GetTokenAsync("cli-acct")).Value.Reveal();
            Assert.NotEqual("sk-ant-oat01-CLI-ACCESS", rotated);
            await WaitForFileAsync(path, rotated + "\n");

            await stop.CancelAsync();
            Assert.Equal(0, await running);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static async Task WaitForFileAsync(string path, string content)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!(File.Exists(path) && File.ReadAllText(path) == content))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{path} never held the expected token");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Status_shows_a_table_and_json_on_request()
    {
        await using var server = await StartAsync();
        var table = await RunAsync(server, "status");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("cli-acct", table.Output, StringComparison.Ordinal);
        Assert.Contains("Valid", table.Output, StringComparison.Ordinal);

        var one = await RunAsync(server, "status", "cli-acct");
        Assert.Equal(0, one.ExitCode);
        Assert.Contains("2026-03-01 13:00:00Z", one.Output, StringComparison.Ordinal);

        var json = await RunAsync(server, "status", "cli-acct", "--json");
        Assert.StartsWith("{\"accountId\":\"cli-acct\"", json.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_says_when_usage_is_unavailable_for_the_token_in_the_view_and_the_json()
    {
        await using var server = await StartAsync();
        server.Tokens.SetUsage("cli-acct", new AccountUsage(null, null, null, null, null, null, null, "scope_missing", "token lacks user:profile"));

        var one = await RunAsync(server, "status", "cli-acct");
        Assert.Equal(0, one.ExitCode);
        Assert.Matches(@"Usage\s+unavailable \(token lacks user:profile\)", one.Output);

        var json = await RunAsync(server, "status", "cli-acct", "--json");
        using var doc = System.Text.Json.JsonDocument.Parse(json.Output);
        Assert.Equal("token lacks user:profile", doc.RootElement.GetProperty("usage").GetProperty("unavailable").GetString());
        Assert.Equal("Valid", doc.RootElement.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Token_prints_only_the_token()
    {
        await using var server = await StartAsync();
        var run = await RunAsync(server, "token", "cli-acct");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("sk-ant-oat01-CLI-ACCESS", run.Output.Trim());
    }

    [Fact]
    public async Task Failures_are_one_line_on_stderr_with_a_non_zero_exit()
    {
        await using var server = await StartAsync();
        var blocked = await RunAsync(server, "block", "cli-acct", "--reason", "offboarding");
        Assert.Equal(0, blocked.ExitCode);
        Assert.Contains("PolicyBlocked", blocked.Output, StringComparison.Ordinal);

        var status = await RunAsync(server, "status", "cli-acct");
        Assert.Contains("nothing until an operator acts", status.Output, StringComparison.Ordinal);
        Assert.Contains("blocked by an operator (offboarding): unblock it when done", status.Output, StringComparison.Ordinal);

        var token = await RunAsync(server, "token", "cli-acct");
        Assert.Equal(1, token.ExitCode);
        Assert.Equal("actor-refresh: 409 Conflict: offboarding", token.Error.Trim());
        Assert.Empty(token.Output);

        Assert.Equal(0, (await RunAsync(server, "unblock", "cli-acct")).ExitCode);
        Assert.Equal(0, (await RunAsync(server, "refresh", "cli-acct")).ExitCode);

        var missing = await RunAsync(server, "status", "nobody");
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("actor-refresh: 404", missing.Error, StringComparison.Ordinal);
        Assert.Single(missing.Error.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_wrong_key_or_no_server_fails_cleanly()
    {
        await using var server = await StartAsync();
        var wrong = await RunAsync(server, "status", "--api-key", "nope");
        Assert.Equal(1, wrong.ExitCode);
        Assert.StartsWith("actor-refresh: 401", wrong.Error, StringComparison.Ordinal);

        var down = await RunAsync(null, "status");
        Assert.Equal(1, down.ExitCode);
        Assert.StartsWith("actor-refresh: cannot reach http://127.0.0.1:1/", down.Error, StringComparison.Ordinal);

        var badId = await RunAsync(server, "token", "bad id");
        Assert.Equal(1, badId.ExitCode);
        Assert.Contains("1-128 characters", badId.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Block_needs_a_reason()
    {
        await using var server = await StartAsync();
        Assert.NotEqual(0, (await RunAsync(server, "block", "cli-acct")).ExitCode);
    }

    [Fact]
    public async Task Import_claude_posts_the_file()
    {
        // --sync needs the file in a folder the server lists in ActorRefresh:Sync:AllowedFolders.
        var folder = Directory.CreateTempSubdirectory("actorrefresh-cli-sync-").FullName;
        await using var server = await BrokerServer.StartAsync(settings: new()
        {
            ["ActorRefresh:Sync:AllowedFolders:0"] = folder,
            ["ActorRefresh:Storage:DataDirectory"] = Path.Combine(folder, "data"),
        });
        await server.Tokens.RegisterAsync(new AccountCredentials("cli-acct", "claude", new Secret("sk-ant-ort01-CLI-REFRESH"),
            new Secret("sk-ant-oat01-CLI-ACCESS"), BrokerServer.Now.AddHours(1)));
        var path = Path.Combine(folder, "credentials.json");
        try
        {
            var expires = BrokerServer.Now.AddHours(2).ToUnixTimeMilliseconds();
            await File.WriteAllTextAsync(path,
                $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-FILE","refreshToken":"sk-ant-ort01-FILE","expiresAt":{{expires}} } }""");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // the CLI refuses a file others can read
            var run = await RunAsync(server, "import-claude", path, "--id", "from-file");
            Assert.Equal(0, run.ExitCode);
            Assert.Contains("from-file", run.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("FILE", run.Output.Replace("from-file", "", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.Equal("sk-ant-ort01-FILE", server.Tokens.CredentialsOf("from-file")!.RefreshToken!.Reveal());

            // A file readable by others is refused: the server would keep writing tokens into it.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var exposed = await RunAsync(server, "import-claude", path, "--id", "from-file", "--sync");
            Assert.Equal(1, exposed.ExitCode);
            Assert.Contains(path, exposed.Error, StringComparison.Ordinal);

            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var synced = await RunAsync(server, "import-claude", path, "--id", "from-file", "--sync");
            Assert.Equal(0, synced.ExitCode);
            Assert.Equal(path, server.Tokens.Replaced.Single().CredentialsFile);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        var missing = await RunAsync(server, "import-claude", path, "--id", "x");
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("actor-refresh: cannot read", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pools_lists_definitions_and_shows_one_pool_as_a_table()
    {
        await using var server = await StartAsync();
        var empty = await RunAsync(server, "pools");
        Assert.Equal(0, empty.ExitCode);
        Assert.Contains("No pools are defined", empty.Output, StringComparison.Ordinal);

        server.Tokens.DefinePool(new PoolDefinition("main", ["cli-acct", "spare"], PoolStrategy.LeastUtilised, 85));
        var list = await RunAsync(server, "pools");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("main", list.Output, StringComparison.Ordinal);
        Assert.Contains("least-utilised", list.Output, StringComparison.Ordinal);
        Assert.Contains("cli-acct, spare", list.Output, StringComparison.Ordinal);
        Assert.Contains("85%", list.Output, StringComparison.Ordinal);

        server.Tokens.PoolStatuses["main"] = new PoolStatus("main", PoolStrategy.LeastUtilised, 85,
        [
            new PoolMember("cli-acct", AccountState.Valid, 91.5, false, BrokerServer.Now.AddHours(1), "utilisation 91.5% at or above 85%", null),
            new PoolMember("spare", null, 0, false, null, "not registered", null),
        ], BrokerServer.Now.AddHours(1));
        var one = await RunAsync(server, "pools", "main");
        Assert.Equal(0, one.ExitCode);
        Assert.Contains("usable 0/2", one.Output, StringComparison.Ordinal);
        Assert.Contains("91.5%", one.Output, StringComparison.Ordinal);
        Assert.Contains("not registered", one.Output, StringComparison.Ordinal);
        Assert.Contains("2026-03-01 13:00:00Z", one.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("CLI-ACCESS", one.Output, StringComparison.Ordinal);

        var json = await RunAsync(server, "pools", "main", "--json");
        Assert.StartsWith("{\"name\":\"main\"", json.Output, StringComparison.Ordinal);

        var missing = await RunAsync(server, "pools", "nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("actor-refresh: 404 Not Found: Pool 'nope' is not defined.", missing.Error.Trim());
    }

    [Fact]
    public async Task Lease_prints_only_the_token_and_json_on_request()
    {
        await using var server = await StartAsync();
        server.Tokens.DefinePool(new PoolDefinition("main", ["cli-acct"]));
        server.Tokens.Leases["main"] = () => new AccountLease("cli-acct", new AccessToken(new Secret("sk-ant-oat01-CLI-ACCESS"), BrokerServer.Now.AddHours(1)));
        var run = await RunAsync(server, "lease", "main");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("sk-ant-oat01-CLI-ACCESS", run.Output.Trim());

        var json = await RunAsync(server, "lease", "main", "--json");
        Assert.Equal(0, json.ExitCode);
        Assert.StartsWith("{\"accountId\":\"cli-acct\",\"accessToken\":\"sk-ant-oat01-CLI-ACCESS\"", json.Output, StringComparison.Ordinal);

        server.Tokens.Leases["main"] = () => throw new NoUsableAccountException("main", BrokerServer.Now.AddMinutes(5), "no usable account in pool 'main'");
        var none = await RunAsync(server, "lease", "main");
        Assert.Equal(1, none.ExitCode);
        Assert.Empty(none.Output);
        Assert.Equal("actor-refresh: 503 Service Unavailable: no usable account in pool 'main'", none.Error.Trim());

        var badName = await RunAsync(server, "lease", "bad name");
        Assert.Equal(1, badName.ExitCode);
        Assert.Contains("pool name", badName.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_client_command_works_against_a_keyless_server_on_loopback()
    {
        // Keyless mode refuses browser-shaped requests; the CLI sends none of their marks and must keep working.
        await using var server = await BrokerServer.StartAsync(key: null);
        await server.Tokens.RegisterAsync(new AccountCredentials("cli-acct", "claude", new Secret("sk-ant-ort01-CLI-REFRESH"),
            new Secret("sk-ant-oat01-CLI-ACCESS"), BrokerServer.Now.AddHours(1)));
        server.Tokens.DefinePool(new PoolDefinition("main", ["cli-acct"]));
        server.Tokens.Leases["main"] = () => new AccountLease("cli-acct", new AccessToken(new Secret("sk-ant-oat01-CLI-ACCESS"), BrokerServer.Now.AddHours(1)));
        var path = Path.Combine(Path.GetTempPath(), $"credentials-{Guid.NewGuid():N}.json");
        try
        {
            await File.WriteAllTextAsync(path,
                $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-FILE","refreshToken":"sk-ant-ort01-FILE","expiresAt":{{BrokerServer.Now.AddHours(2).ToUnixTimeMilliseconds()}} } }""");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            string[][] commands =
            [
                ["status"], ["status", "cli-acct"], ["token", "cli-acct"], ["block", "cli-acct", "--reason", "r"],
                ["unblock", "cli-acct"], ["refresh", "cli-acct"], ["pools"], ["pools", "main"], ["lease", "main"],
                ["import-claude", path, "--id", "from-file"],
            ];
            foreach (var command in commands)
            {
                var run = await RunAsync(server, command);
                Assert.True(run.ExitCode == 0, $"{string.Join(' ', command)}: {run.Error}");
            }
            Assert.Equal("sk-ant-ort01-FILE", server.Tokens.CredentialsOf("from-file")!.RefreshToken!.Reveal());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_key_can_come_from_a_private_file_so_it_stays_out_of_ps()
    {
        await using var server = await StartAsync();
        var file = Path.Combine(Path.GetTempPath(), $"api-key-{Guid.NewGuid():N}");
        try
        {
            await File.WriteAllTextAsync(file, server.Key + "\n");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var output = new StringWriter();
            var error = new StringWriter();
            var environment = new Dictionary<string, string?> { [CliApp.ServerEnvironmentVariable] = server.BaseAddress.ToString() };
            var app = new CliApp(output, error, new Spectre.Console.Testing.TestConsole(), name => environment.GetValueOrDefault(name));
            Assert.Equal(0, await app.RunAsync(["token", "cli-acct", "--api-key-file", file]));
            Assert.Equal("sk-ant-oat01-CLI-ACCESS", output.ToString().Trim());

            environment[CliApp.ApiKeyFileEnvironmentVariable] = file;
            Assert.Equal(0, await app.RunAsync(["status"]));

            // A key file others can read is refused before anything is sent.
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            Assert.Equal(1, await app.RunAsync(["status"]));
            Assert.Contains(file, error.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(server.Key!, error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
