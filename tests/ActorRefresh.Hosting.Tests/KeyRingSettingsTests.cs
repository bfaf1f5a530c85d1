using System.Security.Cryptography;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Persistence;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// The previous encryption keys (<c>ActorRefresh:Storage:PreviousEncryptionKeys</c>, <c>PreviousEncryptionKeyFiles</c>):
/// read as a list or one comma-separated value, key files checked as the data folder's key file is, and every fault
/// refused at start naming the setting, never the key. Real folders and files.
/// </summary>
public sealed class KeyRingSettingsTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly string _root = HostedEngine.NewDirectory();
    private readonly string _current = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public KeyRingSettingsTests() => Directory.CreateDirectory(_root, Private);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Previous_keys_are_read_as_a_list_or_as_one_comma_separated_value()
    {
        var a = RandomNumberGenerator.GetBytes(32);
        var b = RandomNumberGenerator.GetBytes(32);
        var file = KeyFile("old.key", Convert.ToBase64String(b), UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var listed = Resolve(new() { ["ActorRefresh:Storage:PreviousEncryptionKeys:0"] = Convert.ToBase64String(a), ["ActorRefresh:Storage:PreviousEncryptionKeyFiles:0"] = file });
        Assert.Equal([TokenCipher.KeyIdOf(a), TokenCipher.KeyIdOf(b)], listed.PreviousKeys.Select(TokenCipher.KeyIdOf));

        var joined = Resolve(new() { ["ActorRefresh:Storage:PreviousEncryptionKeys"] = $"{Convert.ToBase64String(a)}, {Convert.ToBase64String(b)}" });
        Assert.Equal([TokenCipher.KeyIdOf(a), TokenCipher.KeyIdOf(b)], joined.PreviousKeys.Select(TokenCipher.KeyIdOf));
        Assert.Equal("StorageKey { Key = [redacted] }", joined.ToString());
    }

    [Theory]
    [InlineData("not base64 at all!", "is not valid base64")]
    [InlineData("AAAA", "must decode to 32 bytes")]
    public async Task A_malformed_previous_key_refuses_start_naming_the_setting_and_not_the_value(string value, string fault)
    {
        var error = await StartFails(new() { ["ActorRefresh:Storage:PreviousEncryptionKeys:0"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), ["ActorRefresh:Storage:PreviousEncryptionKeys:1"] = value });
        Assert.Contains("ActorRefresh:Storage:PreviousEncryptionKeys:1", error, StringComparison.Ordinal);
        Assert.Contains(fault, error, StringComparison.Ordinal);
        Assert.DoesNotContain(value, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_current_key_or_a_key_listed_twice_is_refused_naming_both_settings()
    {
        var error = await StartFails(new() { ["ActorRefresh:Storage:PreviousEncryptionKeys:0"] = _current });
        Assert.Contains("ActorRefresh:Storage:PreviousEncryptionKeys:0 is the same key as ActorRefresh:Storage:EncryptionKey", error, StringComparison.Ordinal);
        Assert.DoesNotContain(_current, error, StringComparison.Ordinal);

        var old = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var file = KeyFile("old.key", old, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        error = await StartFails(new() { ["ActorRefresh:Storage:PreviousEncryptionKeys:0"] = old, ["ActorRefresh:Storage:PreviousEncryptionKeyFiles:0"] = file });
        Assert.Contains("ActorRefresh:Storage:PreviousEncryptionKeyFiles:0 is the same key as ActorRefresh:Storage:PreviousEncryptionKeys:0", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead, "group or others may access it")]
    [InlineData(UnixFileMode.OtherRead, "group or others may access it")]
    public async Task A_previous_key_file_others_may_read_is_refused_naming_the_setting_and_path(UnixFileMode extra, string fault)
    {
        var file = KeyFile("old.key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), UnixFileMode.UserRead | UnixFileMode.UserWrite | extra);
        var error = await StartFails(new() { ["ActorRefresh:Storage:PreviousEncryptionKeyFiles:0"] = file });
        Assert.Contains($"ActorRefresh:Storage:PreviousEncryptionKeyFiles:0 names '{file}'", error, StringComparison.Ordinal);
        Assert.Contains(fault, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_previous_key_file_that_is_a_link_or_missing_is_refused_naming_it()
    {
        var target = KeyFile("target.key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var link = Path.Combine(_root, "link.key");
        File.CreateSymbolicLink(link, target);
        var error = await StartFails(new() { ["ActorRefresh:Storage:PreviousEncryptionKeyFiles:0"] = link });
        Assert.Contains($"'{link}'", error, StringComparison.Ordinal);
        Assert.Contains("symbolic link", error, StringComparison.Ordinal);

        var missing = Path.Combine(_root, "missing.key");
        error = await StartFails(new() { ["ActorRefresh:Storage:PreviousEncryptionKeyFiles:0"] = missing });
        Assert.Contains($"ActorRefresh:Storage:PreviousEncryptionKeyFiles:0 names '{missing}', which does not exist", error, StringComparison.Ordinal);
    }

    private string KeyFile(string name, string content, UnixFileMode mode)
    {
        var path = Path.Combine(_root, name);
        File.WriteAllText(path, content + "\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private Dictionary<string, string?> Settings(Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = Path.Combine(_root, "data"),
            ["ActorRefresh:Storage:EncryptionKey"] = _current,
        };
        foreach (var (k, v) in extra) settings[k] = v;
        return settings;
    }

    private StorageKey Resolve(Dictionary<string, string?> extra)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings(extra)).Build();
        var storage = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>()!;
        StorageKeyRing.AddListValues(storage, configuration);
        Assert.Empty(storage.Validate());
        return StorageKeyRing.Resolve(storage, NullLogger.Instance);
    }

    private async Task<string> StartFails(Dictionary<string, string?> extra)
    {
        using var host = HostedEngine.Build(Settings(extra));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        return e.Message;
    }
}
