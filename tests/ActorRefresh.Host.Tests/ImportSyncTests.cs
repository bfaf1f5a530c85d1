using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// <c>POST /v1/import/claude?sync=true&amp;path=…</c> binds an account to a file the server will read and write for
/// as long as the account lives: only inside the folders the operator lists, only through folders and files of the
/// server's user that nobody else may change, one account per file, and the file's own login. Real files, real
/// modes and owners (the tests run as root; chown to another uid plays the foreign user).
/// </summary>
public sealed class ImportSyncTests : IAsyncLifetime
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly string _root = Directory.CreateTempSubdirectory("actorrefresh-sync-").FullName;
    private string Allowed => Path.Combine(_root, "allowed");
    private string Outside => Path.Combine(_root, "outside");
    private BrokerServer _server = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Allowed, PrivateDirectory);
        Directory.CreateDirectory(Outside, PrivateDirectory);
        _server = await BrokerServer.StartAsync(settings: new()
        {
            ["ActorRefresh:Sync:AllowedFolders:0"] = Allowed,
            ["ActorRefresh:Storage:DataDirectory"] = Path.Combine(_root, "data"),
        });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private static string Credentials(string refreshToken) =>
        $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-SYNC","refreshToken":"{{refreshToken}}","expiresAt":{{BrokerServer.Now.AddHours(2).ToUnixTimeMilliseconds()}} } }""";

    private static string WriteFile(string path, string refreshToken = "sk-ant-ort01-SYNC")
    {
        File.WriteAllText(path, Credentials(refreshToken));
        File.SetUnixFileMode(path, Private);
        return path;
    }

    private Task<HttpResponseMessage> Import(string id, string path, string refreshToken = "sk-ant-ort01-SYNC") =>
        _server.Client.PostAsync($"v1/import/claude?id={id}&sync=true&path={Uri.EscapeDataString(path)}",
            new StringContent(Credentials(refreshToken), Encoding.UTF8, "application/json"));

    private static async Task<string> ReasonAsync(HttpResponseMessage response, int status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.DoesNotContain("sk-ant-ort01", body, StringComparison.Ordinal);
        return JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString()!;
    }

    private static void Chown(string path, int uid)
    {
        using var chown = Process.Start("chown", ["-h", uid.ToString(CultureInfo.InvariantCulture), path]);
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    [Fact]
    public async Task A_file_in_an_allowed_folder_of_the_servers_user_is_accepted()
    {
        Directory.CreateDirectory(Path.Combine(Allowed, "me"), PrivateDirectory);
        var file = WriteFile(Path.Combine(Allowed, "me", ".credentials.json"));
        await ReasonOrCreated(await Import("me", file));
        Assert.Equal(file, _server.Tokens.CredentialsOf("me")!.CredentialsFile);

        // Inside an allowed folder the caller may learn that a file is missing: the folder is the operator's.
        Assert.Contains("does not exist", await ReasonAsync(await Import("fresh", Path.Combine(Allowed, "fresh.json")), 400), StringComparison.Ordinal);
    }

    private static async Task ReasonOrCreated(HttpResponseMessage response) =>
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());

    [Fact]
    public async Task Without_allowed_folders_sync_is_refused_naming_the_setting()
    {
        await using var server = await BrokerServer.StartAsync(settings: new() { ["ActorRefresh:Storage:DataDirectory"] = Path.Combine(_root, "data2") });
        var file = WriteFile(Path.Combine(Allowed, "c.json"));
        var response = await server.Client.PostAsync($"v1/import/claude?id=x&sync=true&path={Uri.EscapeDataString(file)}",
            new StringContent(Credentials("sk-ant-ort01-SYNC"), Encoding.UTF8, "application/json"));
        Assert.Contains("ActorRefresh:Sync:AllowedFolders", await ReasonAsync(response, 400), StringComparison.Ordinal);
        Assert.Null(server.Tokens.CredentialsOf("x"));
    }

    [Fact]
    public async Task A_path_outside_the_allowed_folders_is_refused_alike_whether_it_exists_or_not()
    {
        var existing = WriteFile(Path.Combine(Outside, "victim.json"));
        var answers = new List<string>();
        foreach (var path in new[]
                 {
                     existing, Path.Combine(Outside, "missing.json"), "/etc/passwd", "/no/such/dir/c.json",
                     Path.Combine(Allowed, "..", "outside", "victim.json"), Allowed + "-sibling/c.json", Allowed,
                 })
        {
            var reason = await ReasonAsync(await Import("outsider", path), 400);
            Assert.Contains("ActorRefresh:Sync:AllowedFolders", reason, StringComparison.Ordinal);
            answers.Add(reason.Replace(path, "<path>", StringComparison.Ordinal));
        }
        Assert.Single(answers.Distinct());
        Assert.Null(_server.Tokens.CredentialsOf("outsider"));
    }

    [Fact]
    public async Task Links_on_the_way_or_at_the_end_are_refused()
    {
        var target = WriteFile(Path.Combine(Outside, "victim.json"));
        var fileLink = Path.Combine(Allowed, "link.json");
        File.CreateSymbolicLink(fileLink, target);
        Assert.Contains("symbolic link", await ReasonAsync(await Import("linked", fileLink), 400), StringComparison.Ordinal);

        // A folder inside the allowed one swapped for a link to elsewhere.
        var folderLink = Path.Combine(Allowed, "swapped");
        Directory.CreateSymbolicLink(folderLink, Outside);
        Assert.Contains("symbolic link", await ReasonAsync(await Import("linked", Path.Combine(folderLink, "victim.json")), 400), StringComparison.Ordinal);
        Assert.Null(_server.Tokens.CredentialsOf("linked"));
    }

    [Fact]
    public async Task A_folder_or_file_others_may_change_or_read_is_refused()
    {
        var shared = Path.Combine(Allowed, "shared");
        Directory.CreateDirectory(shared, PrivateDirectory);
        var file = WriteFile(Path.Combine(shared, "c.json"));

        File.SetUnixFileMode(shared, PrivateDirectory | UnixFileMode.GroupWrite | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        Assert.Contains(shared, await ReasonAsync(await Import("s", file), 400), StringComparison.Ordinal);
        File.SetUnixFileMode(shared, PrivateDirectory);

        File.SetUnixFileMode(Allowed, PrivateDirectory | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
        Assert.Contains(Allowed, await ReasonAsync(await Import("s", file), 400), StringComparison.Ordinal);
        File.SetUnixFileMode(Allowed, PrivateDirectory);

        File.SetUnixFileMode(file, Private | UnixFileMode.OtherRead);
        Assert.Contains("permissions", await ReasonAsync(await Import("s", file), 400), StringComparison.Ordinal);
        File.SetUnixFileMode(file, Private);
        Assert.Null(_server.Tokens.CredentialsOf("s"));
    }

    [Fact]
    public async Task A_folder_or_file_of_another_user_is_refused()
    {
        var foreign = Path.Combine(Allowed, "foreign");
        Directory.CreateDirectory(foreign, PrivateDirectory);
        var file = WriteFile(Path.Combine(foreign, "c.json"));

        Chown(foreign, 4242);
        Assert.Contains("owned by user 4242", await ReasonAsync(await Import("f", file), 400), StringComparison.Ordinal);
        Chown(foreign, 0);

        Chown(file, 4242);
        Assert.Contains("owned by user 4242", await ReasonAsync(await Import("f", file), 400), StringComparison.Ordinal);
        Chown(file, 0);
        Assert.Null(_server.Tokens.CredentialsOf("f"));
        await ReasonOrCreated(await Import("f", file));
    }

    [Fact]
    public async Task One_account_per_file()
    {
        var file = WriteFile(Path.Combine(Allowed, "c.json"));
        await ReasonOrCreated(await Import("first", file));
        var reason = await ReasonAsync(await Import("second", file), 409);
        Assert.Contains("'first'", reason, StringComparison.Ordinal);
        Assert.Null(_server.Tokens.CredentialsOf("second"));

        // The same account may import its file again; once it is removed, the file is free.
        Assert.Equal(HttpStatusCode.OK, (await Import("first", file)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _server.Client.DeleteAsync("v1/accounts/first")).StatusCode);
        await ReasonOrCreated(await Import("second", file));
    }

    [Fact]
    public async Task The_imported_login_must_be_the_files_own()
    {
        var file = WriteFile(Path.Combine(Allowed, "c.json"), "sk-ant-ort01-THE-FILES");
        // Adopting another login's file through an import of one's own (expired) credentials is refused.
        Assert.Contains("refresh token", await ReasonAsync(await Import("adopter", file, "sk-ant-ort01-MINE"), 400), StringComparison.Ordinal);
        Assert.Null(_server.Tokens.CredentialsOf("adopter"));
        await ReasonOrCreated(await Import("adopter", file, "sk-ant-ort01-THE-FILES"));
    }
}
