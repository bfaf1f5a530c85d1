using System.Security;

namespace ActorRefresh.Host.Tests.Packaging;

/// <summary>
/// The embedding story from packages: a throwaway host outside the solution (its own nuget.config, empty
/// Directory.Build.props and Directory.Packages.props, the repository's global.json) references the packed
/// ActorRefresh.Hosting and ActorRefresh.TestKit, embeds the engine with <c>AddActorRefresh</c> and gets a refreshed
/// token from <c>FakeTokenServer</c>.
/// </summary>
[Collection(PackagingCollection.Name)]
public sealed class SampleHostFromPackagesTests(PackagesFixture packages)
{
    [Fact]
    public async Task A_host_outside_the_solution_embeds_the_engine_from_the_packages_and_gets_a_refreshed_token()
    {
        var sample = packages.NewScratchFolder("sample-host");
        var cache = Path.Combine(sample, ".packages");
        await WriteSampleAsync(sample, cache);

        var run = await DotnetCommand.DotnetAsync(sample, TimeSpan.FromMinutes(2), "run", "--", Path.Combine(sample, "engine-data"));
        Assert.True(run.ExitCode == 0, run.Describe());

        // Restored from the packed folder, not from a copy of an older 0.5.0 somewhere in a shared cache.
        Assert.True(Directory.Exists(Path.Combine(cache, "actorrefresh.hosting", packages.Version)), "ActorRefresh.Hosting was not restored from " + packages.Folder + "\n" + run.Describe());
        Assert.True(Directory.Exists(Path.Combine(cache, "actorrefresh.engine", packages.Version)), "ActorRefresh.Engine was not restored from " + packages.Folder);

        var lines = run.StandardOutput.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2)).Where(pair => pair.Length == 2).ToDictionary(pair => pair[0], pair => pair[1]);
        Assert.True(lines.ContainsKey("token"), run.Describe());
        Assert.NotEmpty(lines["token"]);
        Assert.NotEqual(lines["issued"], lines["token"]);      // refreshed, not the token it was registered with
        Assert.Equal(lines["current"], lines["token"]);        // the one the token server issued last
        Assert.Equal("1", lines["refreshCalls"]);
    }

    private async Task WriteSampleAsync(string sample, string cache)
    {
        // The sources this machine restores from (a served copy of nuget.org here), read before the sample's own
        // nuget.config exists, so the sample resolves third-party packages where the solution does.
        var listed = await DotnetCommand.DotnetAsync(sample, TimeSpan.FromSeconds(30), "nuget", "list", "source", "--format", "short");
        Assert.True(listed.ExitCode == 0, listed.Describe());
        var served = listed.StandardOutput.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(line => line.StartsWith('E')).Select(line => line[1..].Trim()).ToList();
        Assert.True(served.Count > 0, "no enabled package source:\n" + listed.Describe());

        var userCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var sources = string.Join("\n", served.Select((url, i) => $"""    <add key="served{i}" value="{SecurityElement.Escape(url)}" />"""));
        // A private packages cache, so the ActorRefresh packages are extracted from the packed folder every run; the
        // user's cache is a fallback folder for everything else (no download of what the solution already restored).
        await File.WriteAllTextAsync(Path.Combine(sample, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{SecurityElement.Escape(cache)}" />
              </config>
              <fallbackPackageFolders>
                <clear />
                <add key="user" value="{SecurityElement.Escape(userCache)}" />
              </fallbackPackageFolders>
              <packageSources>
                <clear />
                <add key="actorrefresh" value="{SecurityElement.Escape(packages.Folder)}" />
            {sources}
              </packageSources>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(sample, "Directory.Build.props"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(sample, "Directory.Build.targets"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(sample, "Directory.Packages.props"), "<Project />\n");
        File.Copy(Path.Combine(packages.RepositoryRoot, "global.json"), Path.Combine(sample, "global.json"));

        await File.WriteAllTextAsync(Path.Combine(sample, "SampleHost.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <NoWarn>$(NoWarn);NU1603</NoWarn>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ActorRefresh.Hosting" Version="[{packages.Version}]" />
                <PackageReference Include="ActorRefresh.TestKit" Version="[{packages.Version}]" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(sample, "Program.cs"), """
            using ActorRefresh.Core.Tokens;
            using ActorRefresh.Engine.Accounts;
            using ActorRefresh.Hosting;
            using ActorRefresh.TestKit;
            using Microsoft.Extensions.Configuration;
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.Hosting;
            using Microsoft.Extensions.Logging;

            await using var server = await FakeTokenServer.StartAsync();
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ActorRefresh:Storage:DataDirectory"] = args[0],
                ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
                ["ActorRefresh:Providers:claude:UsageEndpoint"] = server.UsageEndpoint.ToString(),
            });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddActorRefresh(builder.Configuration);
            using var host = builder.Build();
            await host.StartAsync();

            var tokens = host.Services.GetRequiredService<ITokenProvider>();
            var issued = server.CreateAccount("sample");
            await host.Services.GetRequiredService<IAccountAdmin>().RegisterAsync(new AccountCredentials("sample", "claude",
                new Secret(issued.RefreshToken), new Secret(issued.AccessToken), issued.ExpiresAt));
            await tokens.ReportRejectedAsync("sample", issued.AccessToken);   // the API said 401: refresh
            var token = await tokens.GetTokenAsync("sample");

            Console.WriteLine($"issued={issued.AccessToken}");
            Console.WriteLine($"token={token.Value.Reveal()}");
            Console.WriteLine($"current={server.Current("sample").AccessToken}");
            Console.WriteLine($"refreshCalls={server.RefreshCalls("sample")}");
            await host.StopAsync();
            """);
    }
}
