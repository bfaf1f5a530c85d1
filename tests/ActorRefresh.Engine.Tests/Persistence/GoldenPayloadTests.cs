using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Persistence;
using ActorRefresh.Engine.Tests.Support;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>
/// Stored formats are contracts. For every manifest the serializer knows there is a payload as an earlier build wrote it
/// (<c>Golden/&lt;manifest&gt;.v&lt;version&gt;.json</c>, tokens encrypted under a fixed test key) with what it meant; it
/// must still read as that. A round trip cannot catch a renamed property (both sides change together); this does: the
/// old payload's field no longer binds, and the value read differs from the one recorded.
/// </summary>
/// <remarks>
/// A new manifest fails here until its payload is recorded: the test writes <c>&lt;manifest&gt;.v1.received.json</c>
/// next to the others; review it and drop the <c>.received</c>. A format change that cannot read an old payload gets a
/// new version (a new file); the old files stay and keep passing.
/// </remarks>
public sealed class GoldenPayloadTests : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>The key the golden payloads were encrypted with (a test value: it protects nothing).</summary>
    private static readonly byte[] TestKey = Enumerable.Range(0, 32).Select(i => (byte)(7 * i + 3)).ToArray();

    public GoldenPayloadTests() : base(new EngineTestStore().Config)
    {
    }

    private AccountEventSerializer Serializer => new((Akka.Actor.ExtendedActorSystem)Sys, TestKey);

    [Fact]
    public void Every_manifest_has_a_golden_payload_and_each_still_reads_as_what_it_recorded()
    {
        var folder = GoldenFolder();
        var failures = new List<string>();
        foreach (var (type, manifest) in AccountEventSerializer.KnownManifests.OrderBy(kv => kv.Value, StringComparer.Ordinal))
        {
            var files = Directory.GetFiles(folder, FilePrefix(manifest) + "*.json").Where(f => !f.EndsWith(".received.json", StringComparison.Ordinal)).ToList();
            if (files.Count == 0)
            {
                var received = Path.Combine(folder, FilePrefix(manifest) + "1.received.json");
                File.WriteAllText(received, Record(type, manifest));
                failures.Add($"{type.Name} ('{manifest}') has no golden payload: review {received} and drop '.received' from its name");
                continue;
            }
            foreach (var file in files)
            {
                var problem = Check(file, type);
                if (problem is not null) failures.Add($"{Path.GetFileName(file)}: {problem}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Every_golden_payload_names_a_manifest_the_serializer_still_reads()
    {
        var known = AccountEventSerializer.KnownManifests.Values.ToHashSet(StringComparer.Ordinal);
        var files = Directory.GetFiles(GoldenFolder(), "*.json").Where(f => !f.EndsWith(".received.json", StringComparison.Ordinal)).ToList();
        Assert.True(files.Count >= known.Count, $"{files.Count} golden payloads for {known.Count} manifests");
        foreach (var file in files)
        {
            var manifest = JsonNode.Parse(File.ReadAllText(file))!["manifest"]!.GetValue<string>();
            Assert.True(known.Contains(manifest), $"{Path.GetFileName(file)}: manifest '{manifest}' is gone, and journals still hold it");
        }
    }

    [Fact]
    public void A_renamed_field_is_caught_by_its_golden_payload()
    {
        // What the check sees when a property is renamed: the old payload's field no longer binds.
        var file = Path.Combine(GoldenFolder(), FilePrefix("rf") + "1.json");
        var golden = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        var payload = JsonNode.Parse(golden["payload"]!.GetValue<string>())!.AsObject();
        var value = payload["retryAt"]!.DeepClone();
        payload.Remove("retryAt");
        payload["nextAttemptAt"] = value;
        golden["payload"] = payload.ToJsonString();
        var renamed = Path.Combine(Path.GetTempPath(), "actorrefresh-golden-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(renamed, golden.ToJsonString());
        try
        {
            Assert.Contains("RetryAt: recorded", Check(renamed, typeof(RefreshFailed)) ?? "", StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(renamed);
        }
    }

    /// <summary>Null when <paramref name="file"/> reads as what it recorded, else what differs.</summary>
    private string? Check(string file, Type type)
    {
        var golden = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        var manifest = golden["manifest"]!.GetValue<string>();
        object back;
        try
        {
            back = Serializer.FromBinary(Encoding.UTF8.GetBytes(golden["payload"]!.GetValue<string>()), manifest);
        }
        catch (Exception e)
        {
            return $"does not read any more: {e.GetType().Name}: {e.Message}";
        }
        if (back.GetType() != type) return $"reads as {back.GetType().Name}, not {type.Name}";
        // Every recorded property must come back with its recorded value; properties added since read as their defaults.
        var now = JsonNode.Parse(SampleValues.Describe(back))!.AsObject();
        var differences = golden["meaning"]!.AsObject()
            .Where(kv => !JsonNode.DeepEquals(kv.Value, now[kv.Key]))
            .Select(kv => $"{kv.Key}: recorded {kv.Value?.ToJsonString() ?? "null"}, read {now[kv.Key]?.ToJsonString() ?? "null"}")
            .ToList();
        return differences.Count == 0 ? null : "reads differently: " + string.Join("; ", differences);
    }

    private string Record(Type type, string manifest)
    {
        var value = Sample(type);
        var payload = Encoding.UTF8.GetString(Serializer.ToBinary(value));
        var golden = new JsonObject
        {
            ["manifest"] = manifest,
            ["version"] = 1,
            ["type"] = type.FullName,
            ["payload"] = payload,
            ["meaning"] = JsonNode.Parse(SampleValues.Describe(value)),
        };
        return golden.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A value with every field set, so a rename of any of them shows: the constructor's sample, then every init-only
    /// property still unset (a grant end, the account stamp). A snapshot is an account that has been through every event.
    /// </summary>
    private static object Sample(Type type)
    {
        if (type == typeof(AccountData))
            return AccountData.Empty("a1")
                .Apply(new AccountRegistered("claude", new Secret("sk-ant-ort01-rt"), new Secret("sk-ant-oat01-at"), T0.AddHours(8), "/home/u/.claude/.credentials.json", T0) { GrantExpiresAt = T0.AddDays(30) })
                .Apply(new TokensRefreshed(new Secret("sk-ant-oat01-at2"), T0.AddHours(9), new Secret("sk-ant-ort01-rt2"), T0.AddHours(1)) { GrantExpiresAt = T0.AddDays(31) })
                .Apply(new QuotaRecorded(91, T0.AddHours(2), 40, T0.AddDays(2), T0.AddHours(1)))
                .Apply(new ApiCooldownStarted(T0.AddHours(1).AddMinutes(5), T0.AddHours(1)))
                .Apply(new UsageScopeMissing("user:profile", T0.AddHours(1)))
                .Apply(new GrantExpiryNoticed(7, T0.AddDays(31), T0.AddDays(24)))
                .Apply(new RefreshFailed(ErrorClasses.RateLimited, "rate limited", T0.AddHours(8).AddMinutes(1), true, T0.AddHours(8), TokenMaybeSpent: true))
                .Apply(new RefreshStarted("0123456789abcdef", T0.AddHours(8).AddMinutes(2), T0.AddHours(8).AddMinutes(3)));
        var value = SampleValues.Of(type);
        foreach (var property in type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0 || property.GetValue(value) is not null) continue;
            property.SetValue(value, SampleValues.Of(property.PropertyType));
        }
        return value;
    }

    private static string FilePrefix(string manifest) => manifest + ".v";

    private static string GoldenFolder() => ActorRefresh.Testing.RepositoryRoot.Combine("tests", "ActorRefresh.Engine.Tests", "Persistence", "Golden");
}
