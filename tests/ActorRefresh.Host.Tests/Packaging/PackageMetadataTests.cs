using System.IO.Compression;
using System.Xml.Linq;

namespace ActorRefresh.Host.Tests.Packaging;

/// <summary>Every packed package carries the same metadata: id, version, description, license, repository, readme, symbols.</summary>
[Collection(PackagingCollection.Name)]
public sealed class PackageMetadataTests(PackagesFixture packages)
{
    public static TheoryData<string> Ids => new(PackagesFixture.Required);

    [Theory]
    [MemberData(nameof(Ids))]
    public void Each_package_has_id_description_license_repository_readme_and_symbols(string id)
    {
        using var package = ZipFile.OpenRead(PackagePath(id));
        var metadata = Metadata(package);

        Assert.Equal(id, Value(metadata, "id"));
        Assert.Equal(packages.Version, Value(metadata, "version"));
        var description = Value(metadata, "description");
        Assert.False(string.IsNullOrWhiteSpace(description) || description == "Package Description", $"{id} has no description of its own: '{description}'");
        var license = metadata.Elements().Single(e => e.Name.LocalName == "license");
        Assert.Equal("expression", license.Attribute("type")?.Value);
        Assert.Equal("Apache-2.0", license.Value);
        Assert.StartsWith("https://github.com/", metadata.Elements().Single(e => e.Name.LocalName == "repository").Attribute("url")?.Value);
        var readme = Value(metadata, "readme");
        var readmeEntry = package.GetEntry(readme);
        Assert.True(readmeEntry is { Length: > 0 }, $"{id} names readme '{readme}' but carries no such file");
        Assert.True(File.Exists(Path.Combine(packages.Folder, $"{id}.{packages.Version}.snupkg")), $"{id} has no symbols package");
    }

    [Fact]
    public void The_fake_provider_needs_no_akka_and_no_test_framework_and_the_test_kit_brings_it_along()
    {
        using var fake = ZipFile.OpenRead(PackagePath("ActorRefresh.FakeProvider"));
        var fakeDependencies = Dependencies(Metadata(fake));
        Assert.DoesNotContain(fakeDependencies, d => d.Id.StartsWith("Akka", StringComparison.Ordinal)
            || d.Id.StartsWith("xunit", StringComparison.OrdinalIgnoreCase) || d.Id.StartsWith("ActorRefresh.", StringComparison.Ordinal));

        using var testKit = ZipFile.OpenRead(PackagePath("ActorRefresh.TestKit"));
        var onFake = Assert.Single(Dependencies(Metadata(testKit)), d => d.Id == "ActorRefresh.FakeProvider");
        Assert.Contains(packages.Version, onFake.Version, StringComparison.Ordinal);
    }

    private string PackagePath(string id) => Path.Combine(packages.Folder, $"{id}.{packages.Version}.nupkg");

    private static XElement Metadata(ZipArchive package)
    {
        var nuspec = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/', StringComparison.Ordinal));
        using var stream = nuspec.Open();
        return XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static string Value(XElement metadata, string name) =>
        metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value ?? throw new Xunit.Sdk.XunitException($"the nuspec has no <{name}>");

    private static List<(string Id, string Version)> Dependencies(XElement metadata) =>
        [.. metadata.Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => (e.Attribute("id")!.Value, e.Attribute("version")?.Value ?? ""))];
}
