using System.Diagnostics;

namespace ActorRefresh.Engine.Testing;

/// <summary>
/// TEST HOOK, not a feature: kills the own process hard (SIGKILL to itself) at a named point of the refresh
/// sequence, so the crash tests can prove what a restart on the same data finds. It is armed only when the
/// environment variable <see cref="EnvironmentVariable"/> is set when the process starts (read once); without it
/// every call is a no-op costing one comparison. Documented in docs/reliability.md.
/// </summary>
internal static class CrashPoints
{
    /// <summary>Environment variable naming the point to die at.</summary>
    public const string EnvironmentVariable = "ACTORREFRESH_CRASH_AT";

    /// <summary>The limiter granted a permit; the intent (RefreshStarted) is not journaled yet.</summary>
    public const string BeforeIntent = "before-intent";

    /// <summary>The intent is journaled; the token endpoint has not been called.</summary>
    public const string AfterIntent = "after-intent";

    /// <summary>The token endpoint answered; its outcome is not journaled yet.</summary>
    public const string AfterUpstream = "after-upstream";

    /// <summary>The outcome is journaled; no caller has been answered.</summary>
    public const string AfterOutcome = "after-outcome";

    /// <summary>An account snapshot is serialized and on its way to the snapshot store.</summary>
    public const string DuringSnapshot = "during-snapshot";

    /// <summary>Every point, in the order of the refresh sequence.</summary>
    public static IReadOnlyList<string> All { get; } = [BeforeIntent, AfterIntent, AfterUpstream, AfterOutcome, DuringSnapshot];

    private static readonly string? Armed = Read();

    /// <summary>True when a crash point is armed in this process.</summary>
    public static bool IsArmed => Armed is not null;

    /// <summary>Dies here if <paramref name="point"/> is the armed point; otherwise returns at once.</summary>
    public static void At(string point)
    {
        if (Armed is null || !string.Equals(Armed, point, StringComparison.Ordinal)) return;
        Console.Error.WriteLine($"actor-refresh: test hook {EnvironmentVariable}={point} reached; killing the process.");
        Console.Error.Flush();
        try
        {
            Process.GetCurrentProcess().Kill(); // SIGKILL on Unix: no finalizers, no flush, no shutdown hooks
        }
        finally
        {
            Environment.FailFast($"test hook {EnvironmentVariable}={point}");
        }
    }

    private static string? Read()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim();
        if (string.IsNullOrEmpty(value)) return null;
        if (!All.Contains(value, StringComparer.Ordinal))
        {
            Console.Error.WriteLine($"actor-refresh: ignoring {EnvironmentVariable}='{value}' (known points: {string.Join(", ", All)}).");
            return null;
        }
        Console.Error.WriteLine($"actor-refresh: TEST HOOK ARMED: the process kills itself at '{value}' ({EnvironmentVariable}).");
        return value;
    }
}
