using ActorRefresh.Core.Files;
using Microsoft.Extensions.Configuration;

namespace ActorRefresh.Host.Api;

/// <summary>Where the API key comes from (setting or private file) and whether it is strong enough.</summary>
internal static class ApiKeys
{
    /// <summary>Bits a key must carry: 32 bytes, as <c>openssl rand -base64 32</c> or <c>-hex 32</c> gives.</summary>
    public const int MinimumBits = 256;

    /// <summary>
    /// The configured key (trimmed), from <see cref="ApiOptions.KeySetting"/> or the file named by
    /// <see cref="ApiOptions.KeyFileSetting"/>; null when keyless. Never part of a message.
    /// </summary>
    /// <exception cref="InvalidOperationException">Both are set, the file is missing or not private, or the key is weak; the message names the setting.</exception>
    public static string? Resolve(IConfiguration configuration)
    {
        var key = configuration[ApiOptions.KeySetting];
        var file = configuration[ApiOptions.KeyFileSetting];
        if (!string.IsNullOrWhiteSpace(file))
        {
            if (!string.IsNullOrWhiteSpace(key))
                throw new InvalidOperationException($"Set either {ApiOptions.KeySetting} or {ApiOptions.KeyFileSetting}, not both.");
            key = ReadKeyFile(Path.GetFullPath(file));
            if (Weakness(key) is { } weakFile)
                throw new InvalidOperationException($"The key in {ApiOptions.KeyFileSetting} ('{Path.GetFullPath(file)}') is too weak: {weakFile}");
            return key;
        }
        if (string.IsNullOrWhiteSpace(key)) return null;
        key = key.Trim();
        if (Weakness(key) is { } weak)
            throw new InvalidOperationException($"{ApiOptions.KeySetting} is too weak: {weak}");
        return key;
    }

    /// <summary>Why the key is too weak, or null. The estimate is length × log2 of the alphabet of the character classes it uses.</summary>
    public static string? Weakness(string key)
    {
        int alphabet = 0;
        if (key.Any(char.IsAsciiDigit)) alphabet += 10;
        if (key.Any(char.IsAsciiLetterLower)) alphabet += 26;
        if (key.Any(char.IsAsciiLetterUpper)) alphabet += 26;
        if (key.Any(c => !char.IsAsciiLetterOrDigit(c))) alphabet += 33;
        var bits = key.Length * Math.Log2(Math.Max(alphabet, 1));
        // A long key of few symbols repeated ("abab…") is not random whatever its length.
        if (bits >= MinimumBits && key.Distinct().Count() >= 8) return null;
        return $"a key needs at least 32 bytes of entropy ({MinimumBits} bits; this one has about {(int)Math.Min(bits, MinimumBits - 1)}). " +
            "Generate one with 'openssl rand -base64 32'.";
    }

    private static string ReadKeyFile(string path)
    {
        var entry = FileTrust.Inspect(path);
        if (!entry.Exists)
            throw new InvalidOperationException($"{ApiOptions.KeyFileSetting} names '{path}', which does not exist.");
        if (entry.IsDirectory)
            throw new InvalidOperationException($"{ApiOptions.KeyFileSetting} names '{path}', which is a directory.");
        if (FileTrust.Distrust(entry, FileTrust.GroupOrOthersAny) is { } reason)
            throw new InvalidOperationException($"{ApiOptions.KeyFileSetting} names '{path}', which {reason}; it must be a regular file " +
                "of this server's user that group and others cannot access (chmod 600).");
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{ApiOptions.KeyFileSetting} names '{path}', which cannot be read ({exception.GetType().Name}).");
        }
    }
}
