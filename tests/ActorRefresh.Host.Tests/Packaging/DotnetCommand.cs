using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace ActorRefresh.Host.Tests.Packaging;

/// <summary>The result of one finished process: exit code and everything it wrote to standard output and standard error.</summary>
internal sealed record CommandResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public string Describe() => $"`{Command}` exited with {ExitCode}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>
/// Runs <c>dotnet</c> (or a program it installed) as a child process in a given folder, with the environment of a plain
/// shell: no MSBuild variables inherited from the test run, no telemetry, and <c>DOTNET_ROOT</c> set so a tool's
/// launcher finds the runtime that runs the tests.
/// </summary>
internal static class DotnetCommand
{
    public static string DotnetRoot { get; } =
        Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));

    public static Task<CommandResult> DotnetAsync(string workingDirectory, TimeSpan timeout, params string[] arguments) =>
        RunAsync("dotnet", workingDirectory, timeout, arguments);

    public static async Task<CommandResult> RunAsync(string fileName, string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("ActorRefresh__", StringComparison.OrdinalIgnoreCase))
                start.Environment.Remove(name);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_ROOT"] = DotnetRoot;

        var command = fileName + " " + string.Join(' ', arguments);
        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"`{command}` in {workingDirectory} did not finish within {timeout}.\n--- stdout ---\n{output}\n--- stderr ---\n{error}");
        }
        process.WaitForExit(); // drains the redirected streams
        lock (output) lock (error) return new CommandResult(command, process.ExitCode, output.ToString(), error.ToString());
    }
}
