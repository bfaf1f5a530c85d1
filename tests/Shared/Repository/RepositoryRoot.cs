namespace ActorRefresh.Testing;

/// <summary>The checkout the tests run from: the folder of <c>ActorRefresh.sln</c> above the test binaries.</summary>
internal static class RepositoryRoot
{
    /// <summary>The repository root.</summary>
    public static string Path { get; } = Find();

    /// <summary>A path below the repository root.</summary>
    public static string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ActorRefresh.sln"))) return dir.FullName;
        throw new InvalidOperationException("ActorRefresh.sln not found above " + AppContext.BaseDirectory);
    }
}
