using System.Diagnostics;
using ActorRefresh.Engine;
using Xunit.Abstractions;

namespace ActorRefresh.Hosting.Tests.Reliability;

/// <summary>
/// The SQLite store becomes unwritable for longer than a refresh cycle while callers keep asking. Tests run as root,
/// where chmod stops nothing: the data folder and the database file get the immutable attribute (<c>chattr +i</c>), so
/// no write can happen (SQLite cannot create its rollback journal, the file cannot change) while reads still work.
/// </summary>
public sealed class SqliteOutageTests(ITestOutputHelper output) : OutageHarness(Create(out var folder), output)
{
    private readonly ITestOutputHelper _output = output;

    private static StorageOptions Create(out string folder)
    {
        folder = Path.Combine(Path.GetTempPath(), "actorrefresh-outage-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return new StorageOptions { DataDirectory = folder };
    }

    public override async Task DisposeAsync()
    {
        SetImmutable(false);
        await base.DisposeAsync();
        try { Directory.Delete(Storage.DataDirectory, recursive: true); } catch (IOException) { }
    }

    [ChattrFact]
    public Task Unwritable_sqlite_file_longer_than_a_refresh_cycle_then_everything_recovers() =>
        RunOutageScenarioAsync(() => SetImmutable(true), () => SetImmutable(false), _output);

    private void SetImmutable(bool on)
    {
        var db = Path.Combine(Storage.DataDirectory, "actor-refresh.db");
        foreach (var path in File.Exists(db) ? new[] { db, Storage.DataDirectory } : [Storage.DataDirectory])
            Chattr.Set(on ? "+i" : "-i", path);
    }
}

/// <summary>Runs only where <c>chattr +i</c> works on the temp folder (root with CAP_LINUX_IMMUTABLE on ext4 and the like).</summary>
public sealed class ChattrFactAttribute : FactAttribute
{
    public ChattrFactAttribute()
    {
        if (!Chattr.Works) Skip = "chattr +i does not work here (needs root and a file system with the immutable attribute)";
    }
}

internal static class Chattr
{
    public static readonly bool Works = Probe();

    public static void Set(string flag, string path)
    {
        if (!Run(flag, path, out var error)) throw new InvalidOperationException($"chattr {flag} {path}: {error}");
    }

    private static bool Run(string flag, string path, out string error)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("chattr", [flag, path]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            error = e.Message;
            return false;
        }
    }

    private static bool Probe()
    {
        if (OperatingSystem.IsWindows()) return false;
        var file = Path.Combine(Path.GetTempPath(), "actorrefresh-chattr-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(file, "");
        try
        {
            if (!Run("+i", file, out _)) return false;
            var blocked = false;
            try { File.AppendAllText(file, "x"); } catch (UnauthorizedAccessException) { blocked = true; } catch (IOException) { blocked = true; }
            Run("-i", file, out _);
            return blocked;
        }
        finally
        {
            Run("-i", file, out _);
            File.Delete(file);
        }
    }
}
