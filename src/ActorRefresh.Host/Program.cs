using ActorRefresh.Host.Cli;
using Spectre.Console;

namespace ActorRefresh.Host;

internal static class Program
{
    public static Task<int> Main(string[] args) =>
        new CliApp(Console.Out, Console.Error, AnsiConsole.Console).RunAsync(args);
}
