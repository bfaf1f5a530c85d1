using System.Text.Json;
using System.Text.Json.Nodes;

namespace ActorRefresh.Benchmarks.Infra;

/// <summary>Command-line settings shared by every part of the run.</summary>
public sealed record RunOptions(bool Quick, string OutputDirectory)
{
    /// <summary>Repetitions of each load measurement.</summary>
    public int Repetitions => Quick ? 3 : 7;

    /// <summary>Writes one part of the results as <c>{name}.json</c> in the output folder.</summary>
    public void Write(string name, JsonNode node)
    {
        Directory.CreateDirectory(OutputDirectory);
        File.WriteAllText(Path.Combine(OutputDirectory, name + ".json"), node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Progress line on stderr (stdout carries only the final table).</summary>
    public static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
