using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ActorRefresh.Hosting.Tests.Reliability;

/// <summary>
/// A throwaway PostgreSQL cluster the test owns (initdb + pg_ctl on a free loopback port), so it can stop and start it
/// without touching the shared one tests/run.sh provides. As root the server runs as the <c>postgres</c> user.
/// </summary>
internal sealed class PrivatePostgres : IDisposable
{
    private readonly string _bin;
    private readonly string _folder;
    private readonly bool _asPostgres;

    private PrivatePostgres(string bin, string folder, int port, bool asPostgres)
    {
        _bin = bin;
        _folder = folder;
        Port = port;
        _asPostgres = asPostgres;
    }

    public int Port { get; }

    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=true;Timeout=3;Command Timeout=5;Maximum Pool Size=20";

    /// <summary>Why a private cluster cannot run here, or null when it can.</summary>
    public static string? Unavailable { get; } = Check(out _);

    public static PrivatePostgres Create()
    {
        if (Check(out var bin) is { } reason) throw new InvalidOperationException(reason);
        var folder = Path.Combine(Path.GetTempPath(), "actorrefresh-pgx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var asPostgres = Environment.UserName == "root";
        if (asPostgres) Run("chown", ["-R", "postgres", folder], asPostgres: false);
        var pg = new PrivatePostgres(bin!, folder, FreePort(), asPostgres);
        pg.Exec("initdb", ["-D", Path.Combine(folder, "data"), "-A", "trust", "-U", "postgres"]);
        return pg;
    }

    public void Start() => Exec("pg_ctl", ["-D", Path.Combine(_folder, "data"), "-l", Path.Combine(_folder, "server.log"), "-w",
        "-o", $"-p {Port} -k {_folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]);

    /// <summary>Stops the server hard (immediate mode: like a crash of the database host).</summary>
    public void Stop() => Exec("pg_ctl", ["-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"]);

    /// <summary>Runs psql against the cluster and returns its output.</summary>
    public string Psql(string sql) => Exec("psql", ["-h", "127.0.0.1", "-p", Port.ToString(), "-U", "postgres", "-d", "postgres", "-At", "-c", sql]);

    public void Dispose()
    {
        try { Stop(); } catch (InvalidOperationException) { }
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }

    private string Exec(string tool, string[] args) => Run(Path.Combine(_bin, tool), args, _asPostgres);

    private static string Run(string file, string[] args, bool asPostgres)
    {
        var start = asPostgres
            ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", file, .. args])
            : new ProcessStartInfo(file, args);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.WorkingDirectory = Path.GetTempPath();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000)) process.Kill();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(file)} failed ({process.ExitCode}): {error.Result}");
        return output.Result;
    }

    private static string? Check(out string? bin)
    {
        bin = null;
        if (!OperatingSystem.IsLinux()) return "needs Linux";
        if (!Directory.Exists("/usr/lib/postgresql")) return "PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)";
        bin = Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "psql")));
        if (bin is null) return "no initdb/psql under /usr/lib/postgresql/*/bin";
        if (Environment.UserName == "root")
        {
            try { Run("id", ["postgres"], asPostgres: false); }
            catch (InvalidOperationException) { return "running as root without a 'postgres' user to run the server (tests/run.sh creates it)"; }
        }
        return null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Runs only where a private PostgreSQL cluster can be created.</summary>
public sealed class PrivatePostgresFactAttribute : FactAttribute
{
    public PrivatePostgresFactAttribute()
    {
        if (PrivatePostgres.Unavailable is { } reason) Skip = reason;
    }
}
