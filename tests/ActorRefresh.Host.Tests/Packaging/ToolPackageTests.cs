using System.IO.Compression;
using System.Text.Json;

namespace ActorRefresh.Host.Tests.Packaging;

/// <summary><c>actor-refresh</c> as a .NET tool: installed from the packed folder into a tool path and run.</summary>
[Collection(PackagingCollection.Name)]
public sealed class ToolPackageTests(PackagesFixture packages)
{
    [Fact]
    public void The_tool_package_does_not_ship_the_test_kit()
    {
        var tool = Path.Combine(packages.Folder, $"ActorRefresh.Tool.{packages.Version}.nupkg");
        using var package = ZipFile.OpenRead(tool);
        var assemblies = package.Entries.Select(e => e.FullName).Where(name => name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)).ToList();
        // The demo's fake provider is in it; the test helpers (and their test-only dependencies) are not.
        Assert.Contains(assemblies, name => name.EndsWith("/actor-refresh.dll", StringComparison.Ordinal));
        Assert.DoesNotContain(assemblies, name => Path.GetFileName(name).Equals("ActorRefresh.TestKit.dll", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task The_tool_installs_from_the_packed_folder_and_runs_help_and_the_demo()
    {
        var work = packages.NewScratchFolder("tool");
        var toolPath = Path.Combine(work, "tools");

        var install = await DotnetCommand.DotnetAsync(work, TimeSpan.FromMinutes(1),
            "tool", "install", "ActorRefresh.Tool", "--version", packages.Version, "--tool-path", toolPath, "--add-source", packages.Folder);
        Assert.True(install.ExitCode == 0, install.Describe());
        var tool = Path.Combine(toolPath, "actor-refresh");
        Assert.True(File.Exists(tool), $"no actor-refresh command in {toolPath}\n{install.Describe()}");

        var help = await DotnetCommand.RunAsync(tool, work, TimeSpan.FromSeconds(30), "--help");
        Assert.True(help.ExitCode == 0, help.Describe());
        Assert.Contains("serve", help.StandardOutput);
        Assert.Contains("demo", help.StandardOutput);

        var demo = await DotnetCommand.RunAsync(tool, work, TimeSpan.FromMinutes(1),
            "demo", "--json", "--quiet", "--accounts", "10", "--callers", "50", "--seconds", "1");
        Assert.True(demo.ExitCode == 0, demo.Describe());
        var last = demo.StandardOutput.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Last();
        using var summary = JsonDocument.Parse(last);
        Assert.Equal(10, summary.RootElement.GetProperty("accounts").GetInt32());
        Assert.True(summary.RootElement.GetProperty("requests").GetInt64() > 0, last);
        Assert.Equal(0, summary.RootElement.GetProperty("overlappingRefreshes").GetInt32());
        Assert.Equal(0, summary.RootElement.GetProperty("refreshTokenReuse").GetInt32());
        Assert.Equal(0, summary.RootElement.GetProperty("callsDuringBackoff").GetInt32());
    }
}
