using ActorRefresh.Host.Cli;
using ActorRefresh.Host.Tests.Reliability;
using ActorRefresh.Testing;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// A real <c>serve</c> process given a wrong setting: it prints one line naming the key and the fault, no stack trace,
/// and exits with 2 (the usage-error code), so an operator sees what to fix and a supervisor does not loop on a crash.
/// </summary>
public sealed class StartupErrorTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "actorrefresh-startup-" + Guid.NewGuid().ToString("N"));

    public StartupErrorTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("ActorRefresh__Engine__MaxConcurrentRefreshes", "-1", "ActorRefresh:Engine:MaxConcurrentRefreshes")]
    [InlineData("ActorRefresh__Engine__RefreshLead", "soon", "ActorRefresh:Engine:RefreshLead")]
    // Cluster mode with neither seed nodes nor discovery; a discovery method the tool does not have.
    [InlineData("ActorRefresh__Cluster__Enabled", "true", "ActorRefresh:Cluster:SeedNodes")]
    [InlineData("ActorRefresh__Cluster__Discovery__Method", "kubernetes-api", "ActorRefresh:Cluster:Discovery:Method")]
    public async Task A_wrong_setting_stops_serve_with_one_line_naming_the_key_and_exit_code_2(string variable, string value, string key)
    {
        var process = ServeProcess.Start(HostProcess.HostDll, ["serve", "--urls", $"http://127.0.0.1:{ServeProcess.FreePort()}"], start =>
        {
            start.WorkingDirectory = AppContext.BaseDirectory;
            foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("ActorRefresh", StringComparison.OrdinalIgnoreCase)).ToList())
                start.Environment.Remove(name);
            start.Environment["ActorRefresh__Storage__DataDirectory"] = Path.Combine(_folder, "data");
            start.Environment["DOTNET_NOLOGO"] = "1";
            start.Environment[variable] = value;
        });
        using (process)
        {
            Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)), "serve did not stop:\n" + process.Output);
            var output = process.Output;
            Assert.True(process.ExitCode == 2, $"exit code {process.ExitCode}:\n{output}");
            var errors = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(line => line.StartsWith("actor-refresh:", StringComparison.Ordinal) && line.Contains(key, StringComparison.Ordinal))
                .ToList();
            Assert.True(errors.Count == 1, "one line naming the key expected:\n" + output);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_wrong_argument_names_it_and_exits_with_2()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await new CliApp(output, error, new Spectre.Console.Testing.TestConsole(), _ => null).RunAsync(["serve", "--ulrs", "http://127.0.0.1:0"]);
        Assert.Equal(2, exit);
        Assert.Contains("--ulrs", error.ToString(), StringComparison.Ordinal);
    }
}
