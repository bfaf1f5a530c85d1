using ActorRefresh.Engine;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// The data folder and the key file are trusted only after checks: someone else's folder, or one others may write,
/// could hold a planted key and database. Real folders, modes and owners (the tests run as root; chown to another uid
/// stands for a foreign owner).
/// </summary>
public sealed class DataFolderTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly string _root = HostedEngine.NewDirectory();

    public DataFolderTests() => Directory.CreateDirectory(_root, Private);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void The_default_data_folder_is_absolute_and_per_platform()
    {
        Assert.True(Path.IsPathFullyQualified(new StorageOptions().DataDirectory), new StorageOptions().DataDirectory);
        if (!OperatingSystem.IsLinux()) return;
        Assert.Equal("/srv/data/actor-refresh", StorageOptions.DefaultDataDirectory(n => n == "XDG_DATA_HOME" ? "/srv/data" : null));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        Assert.Equal(Path.Combine(home, ".local", "share", "actor-refresh"), StorageOptions.DefaultDataDirectory(_ => null));
        // A relative XDG_DATA_HOME is ignored, as the XDG specification says.
        Assert.Equal(Path.Combine(home, ".local", "share", "actor-refresh"), StorageOptions.DefaultDataDirectory(n => n == "XDG_DATA_HOME" ? "rel" : null));
    }

    [Theory]
    [InlineData(UnixFileMode.GroupWrite)]
    [InlineData(UnixFileMode.OtherWrite)]
    public async Task A_data_folder_others_may_write_is_refused_naming_it(UnixFileMode extra)
    {
        var folder = Path.Combine(_root, "data");
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, Private | extra);
        var error = await StartFails(folder);
        Assert.Contains($"'{folder}'", error, StringComparison.Ordinal);
        Assert.Contains("group or others may write it", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(folder, "token-encryption.key")));
    }

    [Fact]
    public async Task A_data_folder_of_another_user_is_refused_naming_it()
    {
        SkipUnlessRoot();
        var folder = Path.Combine(_root, "data");
        Directory.CreateDirectory(folder, Private);
        Chown(folder, 4242);
        var error = await StartFails(folder);
        Assert.Contains($"'{folder}'", error, StringComparison.Ordinal);
        Assert.Contains("owned by user 4242", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_data_folder_is_created_private_with_a_private_key()
    {
        var folder = Path.Combine(_root, "new", "data");
        await using var engine = await Start(folder);
        Assert.Equal(Private, File.GetUnixFileMode(folder));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "token-encryption.key")));
    }

    [Fact]
    public async Task A_key_file_that_is_a_link_is_refused_naming_it()
    {
        var folder = Path.Combine(_root, "data");
        Directory.CreateDirectory(folder, Private);
        var planted = Path.Combine(_root, "planted.key");
        File.WriteAllText(planted, Convert.ToBase64String(new byte[32]));
        File.SetUnixFileMode(planted, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var key = Path.Combine(folder, "token-encryption.key");
        File.CreateSymbolicLink(key, planted);
        var error = await StartFails(folder);
        Assert.Contains($"'{key}'", error, StringComparison.Ordinal);
        Assert.Contains("symbolic link", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.OtherWrite)]
    [InlineData(UnixFileMode.UserExecute | UnixFileMode.GroupExecute)]
    public async Task A_key_file_group_or_others_may_access_is_refused(UnixFileMode extra)
    {
        var folder = Path.Combine(_root, "data");
        Directory.CreateDirectory(folder, Private);
        var key = Path.Combine(folder, "token-encryption.key");
        File.WriteAllText(key, Convert.ToBase64String(new byte[32]));
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | extra);
        var error = await StartFails(folder);
        Assert.Contains($"'{key}'", error, StringComparison.Ordinal);
        Assert.Contains("group or others may access it", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_file_of_another_user_is_refused()
    {
        SkipUnlessRoot();
        var folder = Path.Combine(_root, "data");
        Directory.CreateDirectory(folder, Private);
        var key = Path.Combine(folder, "token-encryption.key");
        File.WriteAllText(key, Convert.ToBase64String(new byte[32]));
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Chown(key, 4242);
        var error = await StartFails(folder);
        Assert.Contains($"'{key}'", error, StringComparison.Ordinal);
        Assert.Contains("owned by user 4242", error, StringComparison.Ordinal);
    }

    private static async Task<HostedEngine> Start(string folder) =>
        await HostedEngine.StartAsync(directory: folder);

    private static async Task<string> StartFails(string folder)
    {
        using var host = HostedEngine.Build(new Dictionary<string, string?> { ["ActorRefresh:Storage:DataDirectory"] = folder });
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        return e.Message;
    }

    private static void SkipUnlessRoot()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
            throw new InvalidOperationException("These tests change file owners: run them as root (the test machine does).");
    }

    private static void Chown(string path, int uid)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path])!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }
}
