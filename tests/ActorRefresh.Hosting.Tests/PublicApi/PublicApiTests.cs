using System.Reflection;
using PublicApiGenerator;

namespace ActorRefresh.Hosting.Tests.PublicApi;

/// <summary>
/// The public surface of each package is locked in <c>docs/api/&lt;package&gt;.txt</c>: any change to it fails here and
/// shows in the diff of that file. On a mismatch the current surface is written next to it as
/// <c>&lt;package&gt;.received.txt</c>; to accept the change, move it over the approved file.
/// </summary>
public sealed class PublicApiTests
{
    public static TheoryData<string> Packages => new()
    {
        typeof(Core.Tokens.Secret).Assembly.GetName().Name!,
        typeof(Engine.EngineOptions).Assembly.GetName().Name!,
        typeof(ITokenProvider).Assembly.GetName().Name!,
        typeof(TestKit.FakeTokenServer).Assembly.GetName().Name!,
        typeof(TestKit.SchedulerTimeProvider).Assembly.GetName().Name!,
    };

    [Theory]
    [MemberData(nameof(Packages))]
    public void The_public_api_of_each_package_is_the_approved_one(string package)
    {
        var assembly = Assembly.Load(package);
        var current = assembly.GeneratePublicApi(new ApiGeneratorOptions
        {
            // Build metadata, not API.
            ExcludeAttributes = ["System.Reflection.AssemblyMetadataAttribute", "System.Runtime.Versioning.TargetFrameworkAttribute"],
            // The generator leaves out Microsoft.* namespaces by default; the DI extensions live there by convention.
            AllowNamespacePrefixes = ["Microsoft.Extensions.DependencyInjection"],
        }).ReplaceLineEndings("\n");
        var folder = ActorRefresh.Testing.RepositoryRoot.Combine("docs", "api");
        var approvedFile = Path.Combine(folder, package + ".txt");
        var receivedFile = Path.Combine(folder, package + ".received.txt");
        var approved = File.Exists(approvedFile) ? File.ReadAllText(approvedFile).ReplaceLineEndings("\n") : "";
        if (approved != current)
        {
            File.WriteAllText(receivedFile, current);
            Assert.Fail($"The public API of {package} changed. Compare {receivedFile} with {approvedFile}; to accept the change, move the first over the second.");
        }
        File.Delete(receivedFile);
    }
}
