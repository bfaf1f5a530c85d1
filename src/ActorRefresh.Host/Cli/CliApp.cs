using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Files;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using System.CommandLine;
using System.Text.Json;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Api;
using ActorRefresh.Host.Demo;
using ActorRefresh.Host.Logging;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace ActorRefresh.Host.Cli;

/// <summary>
/// The <c>actor-refresh</c> command line: <c>serve</c> runs the broker; the other commands are clients of a
/// running <c>serve</c>. Writers and console are injected so tests can run commands in-process.
/// </summary>
internal sealed partial class CliApp(TextWriter output, TextWriter error, IAnsiConsole console, Func<string, string?>? environment = null, TextReader? input = null)
{
    private readonly TextReader _input = input ?? Console.In;

    public const string ServerEnvironmentVariable = "ACTORREFRESH_SERVER";
    public const string ApiKeyEnvironmentVariable = "ACTORREFRESH_API_KEY";
    public const string ApiKeyFileEnvironmentVariable = "ACTORREFRESH_API_KEY_FILE";

    private readonly Func<string, string?> _environment = environment ?? Environment.GetEnvironmentVariable;

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var parse = CreateRoot().Parse(args);
        var exitCode = await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken).ConfigureAwait(false);
        // A wrong argument is a usage error, as a wrong setting is.
        return parse.Errors.Count > 0 ? UsageError : exitCode;
    }

    public RootCommand CreateRoot()
    {
        var root = new RootCommand("ActorRefresh: keeps OAuth access tokens fresh for many accounts and hands them out over HTTP.");
        root.Subcommands.Add(ServeCommand());
        root.Subcommands.Add(StatusCommand());
        root.Subcommands.Add(TokenCommand());
        root.Subcommands.Add(BlockCommand());
        root.Subcommands.Add(SimplePost("unblock", "Lifts a block (and a backoff about the old failure).", "unblock"));
        root.Subcommands.Add(SimplePost("refresh", "Refreshes the account now, unless it is backing off or blocked.", "refresh"));
        root.Subcommands.Add(ImportClaudeCommand());
        root.Subcommands.Add(AddTokenCommand());
        root.Subcommands.Add(PoolsCommand());
        root.Subcommands.Add(LeaseCommand());
        root.Subcommands.Add(ClusterCommand());
        root.Subcommands.Add(MaterializeCommand());
        root.Subcommands.Add(LoginCommand());
        root.Subcommands.Add(DemoCommand());
        root.Subcommands.Add(StorageKeysCommand.Create(output, error));
        return root;
    }

    private Command ServeCommand()
    {
        var urls = new Option<string>("--urls")
        {
            Description = "Listen URLs, separated by ';'. Without an API key only loopback addresses are allowed.",
            DefaultValueFactory = _ => ServeSettings.DefaultUrl,
        };
        var logFormat = new Option<string>("--log-format") { Description = "Console log format.", DefaultValueFactory = _ => "text" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var config = new Option<string?>("--config")
        {
            Description = "Extra JSON configuration file, applied over config/appsettings[.{Environment}].json and under ActorRefresh:ConfigDirectory, environment variables and --set.",
        };
        var set = new Option<string[]>("--set")
        {
            Description = "A setting as Key=Value (ActorRefresh:Engine:RefreshLead=00:10:00), over every other source; repeatable.",
            HelpName = "Key=Value",
        };
        var cluster = new Option<bool>("--cluster")
        {
            Description = "Runs as a cluster node (ActorRefresh:Cluster:Enabled): sharded accounts, PostgreSQL journal (config/appsettings.cluster.json).",
        };
        var clusterPort = new Option<int?>("--cluster-port") { Description = "Akka remoting port of this node (ActorRefresh:Cluster:Port)." };
        var clusterHost = new Option<string?>("--cluster-hostname") { Description = "Host name or address of this node for remoting (ActorRefresh:Cluster:Hostname)." };
        var seeds = new Option<string?>("--seed-nodes") { Description = "Seed nodes, host:port separated by ',' (ActorRefresh:Cluster:SeedNodes)." };

        var command = new Command("serve", "Runs the token broker: HTTP API, status page, /metrics.")
        {
            urls, logFormat, config, cluster, clusterPort, clusterHost, seeds, set,
        };
        command.SetAction(async (parse, ct) =>
        {
            var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            if (parse.GetValue(cluster)) overrides["ActorRefresh:Cluster:Enabled"] = "true";
            if (parse.GetValue(clusterPort) is { } port) overrides["ActorRefresh:Cluster:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (parse.GetValue(clusterHost) is { Length: > 0 } host) overrides["ActorRefresh:Cluster:Hostname"] = host;
            if (parse.GetValue(seeds) is { Length: > 0 } seedList)
            {
                var entries = seedList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                for (var i = 0; i < entries.Length; i++) overrides[$"ActorRefresh:Cluster:SeedNodes:{i}"] = entries[i];
            }
            var settingArguments = parse.GetValue(set) ?? [];
            for (var i = 0; i < settingArguments.Length; i++)
            {
                // The argument itself is not echoed: it may be a secret missing its key.
                if (!HostConfiguration.TryParseSetting(settingArguments[i], out var setting))
                    return Fail($"--set expects Key=Value (e.g. --set ActorRefresh:Engine:RefreshLead=00:10:00); --set number {i + 1} has no key or no '='.", UsageError);
                overrides[setting.Key] = setting.Value;
            }
            var settings = new ServeSettings(
                parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                parse.GetValue(logFormat) == "json" ? LogFormat.Json : LogFormat.Text,
                parse.GetValue(config),
                overrides.Count > 0 ? overrides : null);
            WebApplication app;
            try
            {
                app = ActorRefreshWebHost.Build(settings, EngineRegistration.Add);
            }
            catch (Exception exception) when (exception is InvalidOperationException or FileNotFoundException or InvalidDataException)
            {
                return Fail(exception.Message, UsageError);
            }
            await using (app.ConfigureAwait(false))
            {
                // The options are checked here, before the host starts, so a wrong setting is one line naming the key
                // (the host would log it as a start failure with a stack trace).
                if (StartupProblems(app.Services) is [_, ..] problems)
                {
                    foreach (var problem in problems) Fail(problem, UsageError);
                    return UsageError;
                }
                await app.StartAsync(ct).ConfigureAwait(false);
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            return 0;
        });
        return command;
    }

    private Command DemoCommand()
    {
        var accounts = new Option<int>("--accounts") { Description = "Accounts to run.", DefaultValueFactory = _ => 50 };
        var callers = new Option<int>("--callers") { Description = "Concurrent callers asking for tokens.", DefaultValueFactory = _ => 2000 };
        var seconds = new Option<double>("--seconds") { Description = "How long the callers run.", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object on the last line." };
        var logFormat = new Option<string>("--log-format")
        {
            Description = "Log format (logs go to standard error; while the live table runs they are held and shown under it).",
            DefaultValueFactory = _ => "text",
        };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var quiet = new Option<bool>("--quiet") { Description = "No log output, only the table and the summary." };
        var command = new Command("demo", "Runs the real engine against a fake token server with scripted faults and many concurrent callers.")
        {
            accounts, callers, seconds, json, logFormat, quiet,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new DemoOptions(
                parse.GetValue(accounts),
                parse.GetValue(callers),
                TimeSpan.FromSeconds(parse.GetValue(seconds)),
                parse.GetValue(json),
                parse.GetValue(logFormat) == "json" ? LogFormat.Json : LogFormat.Text);
            if (options.Accounts < 1 || options.Callers < 1 || options.RunFor <= TimeSpan.Zero)
                return Fail("--accounts, --callers and --seconds must be positive");
            var report = await DemoRunner.RunAsync(options, parse.GetValue(quiet) ? TextWriter.Null : error, console, ct).ConfigureAwait(false);
            if (options.Json)
                output.WriteLine(DemoRunner.ToJson(report));
            else
                DemoRunner.WriteSummary(console, report);
            if (report.InvariantsHold) return 0;
            return Fail("an invariant was broken: overlapping refreshes, refresh token reuse or calls during backoff");
        });
        return command;
    }

    private Command StatusCommand()
    {
        var id = new Argument<string?>("id") { Description = "Account id; all accounts when omitted.", Arity = ArgumentArity.ZeroOrOne };
        var command = ClientCommand("status", "Shows the status of one account or of all.");
        command.Arguments.Add(id);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var account = parse.GetValue(id);
            if (account is null)
            {
                var body = await client.GetAsync("v1/accounts", ct).ConfigureAwait(false);
                if (json)
                    output.WriteLine(body);
                else
                    StatusRendering.WriteList(console, Deserialize<List<AccountStatus>>(body));
            }
            else
            {
                var body = await client.GetAsync(AccountPath(account), ct).ConfigureAwait(false);
                WriteStatus(body, json);
            }
        });
        return command;
    }

    private Command ClusterCommand()
    {
        var command = ClientCommand("cluster", "Shows the cluster's members, their state and roles, and how many accounts each hosts.");
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var body = await client.GetAsync("v1/cluster", ct).ConfigureAwait(false);
            if (json)
                output.WriteLine(body);
            else
                StatusRendering.WriteCluster(console, Deserialize<ClusterStatus>(body));
        });
        return command;
    }

    private Command TokenCommand()
    {
        var id = new Argument<string>("id") { Description = "Account id." };
        var command = ClientCommand("token", "Prints a valid access token (only the token, for scripts; --json adds its expiry).");
        command.Arguments.Add(id);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var body = await client.GetAsync(AccountPath(parse.GetValue(id)!) + "/token", ct).ConfigureAwait(false);
            output.WriteLine(json ? body : Deserialize<TokenResponse>(body).AccessToken);
        });
        return command;
    }

    private Command MaterializeCommand()
    {
        var id = new Argument<string>("id") { Description = "Account id." };
        var path = new Option<string>("--path") { Description = "The file to keep (written atomically, mode 0600).", Required = true };
        var format = new Option<string>("--format")
        {
            Description = "claude: a .credentials.json without refresh token (other keys kept); token: the bare token; env: NAME=token.",
            DefaultValueFactory = _ => "claude",
        };
        format.AcceptOnlyFromAmong("claude", "token", "env");
        var variable = new Option<string>("--variable") { Description = "Variable name of the env format.", DefaultValueFactory = _ => AccessTokenFile.DefaultVariable };
        var once = new Option<bool>("--once") { Description = "Write the current token once and exit." };
        var interval = new Option<TimeSpan>("--interval") { Description = "How often the broker is asked for the token.", DefaultValueFactory = _ => TimeSpan.FromSeconds(30) };
        var command = ClientCommand("materialize",
            "Keeps a file with the account's current access token and no refresh token, for programs that must not hold the refresh token.");
        command.Arguments.Add(id);
        command.Options.Add(path);
        command.Options.Add(format);
        command.Options.Add(variable);
        command.Options.Add(once);
        command.Options.Add(interval);
        SetClientAction(command, async (client, parse, _, ct) =>
        {
            var account = AccountPath(parse.GetValue(id)!);
            var file = Path.GetFullPath(parse.GetValue(path)!);
            AccessTokenFile.TryParseFormat(parse.GetValue(format), out var fileFormat);
            var name = parse.GetValue(variable)!;
            if (!AccessTokenFile.IsVariableName(name)) throw new CliException($"--variable '{name}' is not a variable name (letters, digits, '_', not starting with a digit)");
            var every = parse.GetValue(interval);
            if (every <= TimeSpan.Zero) throw new CliException("--interval must be positive");
            var scopes = BuiltInProviders.Claude.Scope?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var keepGoing = !parse.GetValue(once);
            string? written = null;
            do
            {
                try
                {
                    var token = Deserialize<TokenResponse>(await client.GetAsync(account + "/token", ct).ConfigureAwait(false));
                    if (token.AccessToken != written)
                    {
                        AccessTokenFile.Write(file, fileFormat, name, new Secret(token.AccessToken), token.ExpiresAt, scopes);
                        written = token.AccessToken;
                        output.WriteLine($"wrote the access token (expires {token.ExpiresAt:O}) to {file}");
                    }
                }
                catch (CredentialsFileException exception)
                {
                    throw new CliException(exception.Message);
                }
                catch (CliException exception) when (keepGoing)
                {
                    // Kept running, a broker that is down for a while is asked again at the next interval.
                    error.WriteLine("actor-refresh: " + exception.Message + "; trying again in " + every);
                }
                if (!keepGoing) break;
                try
                {
                    await Task.Delay(every, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
            }
            while (true);
        });
        return command;
    }

    private Command PoolsCommand()
    {
        var name = new Argument<string?>("name") { Description = "Pool name; every pool's definition when omitted.", Arity = ArgumentArity.ZeroOrOne };
        var command = ClientCommand("pools", "Lists the pools, or shows one pool's members: state, utilisation and whether a lease may choose them.");
        command.Arguments.Add(name);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var pool = parse.GetValue(name);
            var body = await client.GetAsync(pool is null ? "v1/pools" : PoolPath(pool), ct).ConfigureAwait(false);
            if (json)
                output.WriteLine(body);
            else if (pool is null)
                StatusRendering.WritePools(console, Deserialize<List<PoolDefinitionResponse>>(body));
            else
                StatusRendering.WritePool(console, Deserialize<PoolStatusResponse>(body));
        });
        return command;
    }

    private Command LeaseCommand()
    {
        var pool = new Argument<string>("pool") { Description = "Pool name." };
        var command = ClientCommand("lease", "Leases a usable account of a pool and prints its access token (only the token; --json adds the account and expiry).");
        command.Arguments.Add(pool);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var body = await client.GetAsync(PoolPath(parse.GetValue(pool)!) + "/lease", ct).ConfigureAwait(false);
            output.WriteLine(json ? body : Deserialize<LeaseResponse>(body).AccessToken);
        });
        return command;
    }

    private Command BlockCommand()
    {
        var id = new Argument<string>("id") { Description = "Account id." };
        var reason = new Option<string>("--reason") { Description = "Why (shown in status).", Required = true };
        var command = ClientCommand("block", "Blocks an account until it is unblocked.");
        command.Arguments.Add(id);
        command.Options.Add(reason);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var body = JsonSerializer.Serialize(new BlockRequest { Reason = parse.GetValue(reason) }, ApiJson.Options);
            WriteStatus(await client.PostAsync(AccountPath(parse.GetValue(id)!) + "/block", body, ct).ConfigureAwait(false), json);
        });
        return command;
    }

    private Command SimplePost(string name, string description, string action)
    {
        var id = new Argument<string>("id") { Description = "Account id." };
        var command = ClientCommand(name, description);
        command.Arguments.Add(id);
        SetClientAction(command, async (client, parse, json, ct) =>
            WriteStatus(await client.PostAsync(AccountPath(parse.GetValue(id)!) + "/" + action, null, ct).ConfigureAwait(false), json));
        return command;
    }

    private Command ImportClaudeCommand()
    {
        var path = new Argument<string?>("path")
        {
            Description = "Claude credentials file (default ~/.claude/.credentials.json).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var id = new Option<string>("--id") { Description = "Account id to register or to give these credentials.", Required = true };
        var sync = new Option<bool>("--sync") { Description = "Have the server keep this file up to date (server on this machine only)." };
        var command = ClientCommand("import-claude", "Registers a Claude login from its credentials file, or replaces an account's credentials.");
        command.Arguments.Add(path);
        command.Options.Add(id);
        command.Options.Add(sync);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var file = Path.GetFullPath(parse.GetValue(path)
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".claude", ".credentials.json"));
            string content;
            try
            {
                // The same refusals as the engine's own reads: no symbolic link, nothing group or others may access.
                global::ActorRefresh.Core.Credentials.ClaudeCredentialsFile.Read(file);
                content = await File.ReadAllTextAsync(file, ct).ConfigureAwait(false);
            }
            catch (global::ActorRefresh.Core.Credentials.CredentialsFileException exception)
            {
                throw new CliException($"cannot read {file}: {exception.Message}");
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read {file}: {exception.Message}");
            }
            var account = RequireId(parse.GetValue(id)!);
            var query = $"v1/import/claude?id={Uri.EscapeDataString(account)}&sync={(parse.GetValue(sync) ? "true" : "false")}";
            if (parse.GetValue(sync))
                query += "&path=" + Uri.EscapeDataString(file);
            WriteStatus(await client.PostAsync(query, content, ct).ConfigureAwait(false), json);
        });
        return command;
    }

    private static Command ClientCommand(string name, string description)
    {
        var command = new Command(name, description);
        command.Options.Add(new Option<string?>("--server")
        {
            Description = $"URL of a running 'actor-refresh serve' (default: ${ServerEnvironmentVariable} or {ServeSettings.DefaultUrl}).",
        });
        command.Options.Add(new Option<string?>("--api-key")
        {
            Description = $"API key (default: ${ApiKeyEnvironmentVariable}). Visible to other users in 'ps': prefer --api-key-file.",
        });
        command.Options.Add(new Option<string?>("--api-key-file")
        {
            Description = $"File holding the API key, readable by its owner only (default: ${ApiKeyFileEnvironmentVariable}).",
        });
        command.Options.Add(new Option<bool>("--json") { Description = "Print the server's JSON answer unchanged." });
        return command;
    }

    private void SetClientAction(Command command, Func<ApiClient, ParseResult, bool, CancellationToken, Task> run)
    {
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                using var client = new ApiClient(ResolveServer(parse.GetValue<string?>("--server")), ResolveKey(parse));
                await run(client, parse, parse.GetValue<bool>("--json"), ct).ConfigureAwait(false);
                return 0;
            }
            catch (CliException exception)
            {
                return Fail(exception.Message);
            }
            catch (JsonException)
            {
                return Fail("the server's answer is not the JSON this command expects (is --server an actor-refresh server?)");
            }
        });
    }

    /// <summary>The key: <c>--api-key</c>, <c>--api-key-file</c>, then the same two from the environment.</summary>
    private string? ResolveKey(ParseResult parse)
    {
        if (parse.GetValue<string?>("--api-key") is { Length: > 0 } key) return key;
        if (parse.GetValue<string?>("--api-key-file") is { Length: > 0 } file) return ReadKeyFile(file);
        if (_environment(ApiKeyEnvironmentVariable) is { Length: > 0 } fromEnvironment) return fromEnvironment;
        return _environment(ApiKeyFileEnvironmentVariable) is { Length: > 0 } envFile ? ReadKeyFile(envFile) : null;
    }

    private static string ReadKeyFile(string file)
    {
        var path = Path.GetFullPath(file);
        var entry = FileTrust.Inspect(path);
        if (!entry.Exists || entry.IsDirectory)
            throw new CliException($"cannot read the API key file {path}: it does not exist or is a directory");
        if (FileTrust.Distrust(entry, FileTrust.GroupOrOthersAny) is { } reason)
            throw new CliException($"refusing the API key file {path}: it {reason} (chmod 600)");
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read the API key file {path} ({exception.GetType().Name})");
        }
    }

    private Uri ResolveServer(string? option)
    {
        var text = option ?? _environment(ServerEnvironmentVariable) ?? ServeSettings.DefaultUrl;
        if (!Uri.TryCreate(text.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new CliException($"--server '{text}' is not an http(s) URL");
        return uri;
    }

    private static string RequireId(string id) => AccountIds.IsValid(id) ? id : throw new CliException(AccountIds.Rule);

    private static string PoolPath(string name) =>
        "v1/pools/" + Uri.EscapeDataString(PoolNames.IsValid(name) ? name : throw new CliException(PoolNames.Rule));

    private static string AccountPath(string id) => "v1/accounts/" + Uri.EscapeDataString(RequireId(id));

    private void WriteStatus(string body, bool json)
    {
        if (json)
            output.WriteLine(body);
        else
            StatusRendering.WriteOne(console, Deserialize<AccountStatus>(body));
    }

    private static T Deserialize<T>(string body) =>
        JsonSerializer.Deserialize<T>(body, ApiJson.Options) ?? throw new JsonException("empty answer");

    /// <summary>The exit code of a wrong setting or argument, as for a command-line usage error.</summary>
    private const int UsageError = 2;

    private int Fail(string message, int exitCode = 1)
    {
        error.WriteLine("actor-refresh: " + message.ReplaceLineEndings(" "));
        return exitCode;
    }

    /// <summary>What the options validated at start find wrong: every failure, each naming its key.</summary>
    private static List<string> StartupProblems(IServiceProvider services)
    {
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
            return [];
        }
        catch (Exception exception) when (exception is OptionsValidationException or InvalidOperationException or AggregateException)
        {
            var failures = exception is AggregateException all ? all.Flatten().InnerExceptions : [exception];
            // Distinct: a validator that reads other options (the storage key check reads the cluster's) fails with their failure too.
            return failures.SelectMany(f => f is OptionsValidationException v ? v.Failures : [f.Message]).Distinct(StringComparer.Ordinal).ToList();
        }
    }
}
