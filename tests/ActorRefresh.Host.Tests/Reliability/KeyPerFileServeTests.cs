using System.Net;
using System.Net.Http.Headers;
using ActorRefresh.Testing;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// A real <c>serve</c> process configured the Kubernetes way: the API key is a file in a secret mount named by
/// <c>ActorRefresh__ConfigDirectory</c>; a directory that is not there stops the start with one line naming the setting.
/// </summary>
public sealed class KeyPerFileServeTests : IDisposable
{
    private const string Key = "mounted-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJ";
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "actorrefresh-kpf-" + Guid.NewGuid().ToString("N"));

    public KeyPerFileServeTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task The_api_key_comes_from_a_file_in_the_config_directory()
    {
        var secrets = Path.Combine(_folder, "secrets");
        Directory.CreateDirectory(secrets);
        await File.WriteAllTextAsync(Path.Combine(secrets, "ActorRefresh__Api__Key"), Key + "\n");

        await using var host = await HostProcess.StartAsync(apiKey: null, new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = Path.Combine(_folder, "data"),
            ["ActorRefresh__ConfigDirectory"] = secrets,
        });

        using var withKey = new HttpClient { BaseAddress = host.BaseAddress };
        withKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var withoutKey = new HttpClient { BaseAddress = host.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await withKey.GetAsync("v1/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await withoutKey.GetAsync("v1/accounts")).StatusCode);
        Assert.DoesNotContain(Key, host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_config_directory_that_is_not_there_stops_serve_with_one_line_naming_the_setting()
    {
        var missing = Path.Combine(_folder, "not-mounted");
        var process = ServeProcess.Start(HostProcess.HostDll,
            ["serve", "--urls", $"http://127.0.0.1:{ServeProcess.FreePort()}", "--set", $"ActorRefresh:ConfigDirectory={missing}"], start =>
            {
                start.WorkingDirectory = AppContext.BaseDirectory;
                foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("ActorRefresh", StringComparison.OrdinalIgnoreCase)).ToList())
                    start.Environment.Remove(name);
                start.Environment["ActorRefresh__Storage__DataDirectory"] = Path.Combine(_folder, "data");
                start.Environment["DOTNET_NOLOGO"] = "1";
            });
        using (process)
        {
            Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)), "serve did not stop:\n" + process.Output);
            var output = process.Output;
            Assert.True(process.ExitCode == 2, $"exit code {process.ExitCode}:\n{output}");
            var errors = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(line => line.StartsWith("actor-refresh:", StringComparison.Ordinal)
                    && line.Contains("ActorRefresh:ConfigDirectory", StringComparison.Ordinal) && line.Contains(missing, StringComparison.Ordinal))
                .ToList();
            Assert.True(errors.Count == 1, "one line naming the setting and the path expected:\n" + output);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        }
    }
}
