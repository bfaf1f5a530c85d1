using System.Text.RegularExpressions;

namespace ActorRefresh.Host.Tests.Packaging;

/// <summary>
/// The folder of packed packages the Packaging tests restore and install from. <c>tests/run.sh</c> packs the solution
/// into <c>artifacts/packages</c> and exports it as <c>ACTORREFRESH_PACKAGES</c>; outside it, this fixture packs the
/// already built projects (same configuration as these tests) into a temp folder itself. A missing or incomplete
/// folder fails the tests with a message saying what to do.
/// </summary>
public sealed partial class PackagesFixture : IAsyncLifetime
{
    public const string EnvironmentVariable = "ACTORREFRESH_PACKAGES";
    /// <summary>Every package the solution packs, by id.</summary>
    public static readonly string[] Required = ["ActorRefresh.Core", "ActorRefresh.Engine", "ActorRefresh.Hosting", "ActorRefresh.FakeProvider", "ActorRefresh.TestKit", "ActorRefresh.Tool"];
    private string? _ownFolder;

    /// <summary>The folder holding the <c>.nupkg</c> files.</summary>
    public string Folder { get; private set; } = "";

    /// <summary>The one version every package carries.</summary>
    public string Version { get; private set; } = "";

    /// <summary>The repository root (the folder of <c>ActorRefresh.sln</c>).</summary>
    public string RepositoryRoot { get; } = ActorRefresh.Testing.RepositoryRoot.Path;

    /// <summary>Temp folders made by the tests, deleted at the end.</summary>
    public string NewScratchFolder(string purpose)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"actorrefresh-{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        if (folder.StartsWith(RepositoryRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidOperationException($"scratch folder {folder} lies inside the repository {RepositoryRoot}: it would inherit its build settings");
        lock (_scratch) _scratch.Add(folder);
        return folder;
    }

    private readonly List<string> _scratch = [];

    public async Task InitializeAsync()
    {
        var configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(configured))
        {
            if (!Directory.Exists(configured))
                throw new InvalidOperationException($"{EnvironmentVariable}={configured} does not exist: run `dotnet pack ActorRefresh.sln -c Release --no-build -o {configured}` first (tests/run.sh does).");
            Folder = Path.GetFullPath(configured);
        }
        else
        {
            _ownFolder = NewScratchFolder("packages");
            var configuration = TestConfiguration;
            var pack = await DotnetCommand.DotnetAsync(RepositoryRoot, TimeSpan.FromMinutes(3),
                "pack", Path.Combine(RepositoryRoot, "ActorRefresh.sln"), "-c", configuration, "--no-build", "-nologo", "-v", "q", "-o", _ownFolder);
            if (pack.ExitCode != 0)
                throw new InvalidOperationException(
                    $"{EnvironmentVariable} is not set and packing the {configuration} build failed (build the solution in {configuration} first, or run tests/run.sh):\n{pack.Describe()}");
            Folder = _ownFolder;
        }

        var versions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in Required)
        {
            var found = Directory.GetFiles(Folder, id + ".*.nupkg")
                .Select(path => PackageFile().Match(Path.GetFileName(path)))
                .Where(match => match.Success && match.Groups["id"].Value == id)
                .ToList();
            if (found.Count != 1)
                throw new InvalidOperationException($"expected exactly one {id} package in {Folder}, found {found.Count}: pack the solution again into an empty folder.");
            versions.Add(found[0].Groups["version"].Value);
            if (!File.Exists(Path.Combine(Folder, $"{id}.{found[0].Groups["version"].Value}.snupkg")))
                throw new InvalidOperationException($"{id} has no symbols package (.snupkg) in {Folder}.");
        }
        if (versions.Count != 1)
            throw new InvalidOperationException($"the packages in {Folder} do not share one version: {string.Join(", ", versions)}");
        Version = versions.Single();
    }

    public Task DisposeAsync()
    {
        lock (_scratch)
        {
            foreach (var folder in _scratch)
            {
                try { Directory.Delete(folder, recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        return Task.CompletedTask;
    }

#if DEBUG
    private const string TestConfiguration = "Debug";
#else
    private const string TestConfiguration = "Release";
#endif

    [GeneratedRegex(@"^(?<id>ActorRefresh\.[A-Za-z]+)\.(?<version>\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?)\.nupkg$")]
    private static partial Regex PackageFile();
}

[CollectionDefinition(Name)]
public sealed class PackagingCollection : ICollectionFixture<PackagesFixture>
{
    public const string Name = "Packaging";
}
