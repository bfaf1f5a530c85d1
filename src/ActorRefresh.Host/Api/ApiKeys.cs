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
    public static string? Resolve(IConfiguration configuration) =>
        Resolve(configuration[ApiOptions.KeySetting], configuration[ApiOptions.KeyFileSetting], ApiOptions.KeySetting, ApiOptions.KeyFileSetting);

    /// <summary>
    /// The named keys of <see cref="ApiOptions.KeysSection"/> as settings to lay over the configuration: each
    /// <c>:Key</c> resolved (from its file if <c>:KeyFile</c>), <c>:KeyFile</c> cleared, <c>:Scopes</c> as one
    /// comma-separated value. Every key is checked as the single key is; two names may not share a key.
    /// </summary>
    /// <exception cref="InvalidOperationException">A key is missing, weak, in an unsafe file or shared, or a scope is unknown; the message names the key's setting, never the key.</exception>
    public static Dictionary<string, string?> ResolveNamed(IConfiguration configuration, string? singleKey)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        if (singleKey is not null) seen[singleKey] = ApiOptions.KeySetting;
        foreach (var entry in configuration.GetSection(ApiOptions.KeysSection).GetChildren())
        {
            var prefix = $"{ApiOptions.KeysSection}:{entry.Key}";
            var key = Resolve(entry["Key"], entry["KeyFile"], prefix + ":Key", prefix + ":KeyFile")
                ?? throw new InvalidOperationException($"{prefix} has no key: set {prefix}:Key or {prefix}:KeyFile.");
            if (seen.TryGetValue(key, out var other))
                throw new InvalidOperationException($"{prefix} has the same key as {other}: each key needs its own value.");
            seen[key] = prefix;
            var scopesSection = entry.GetSection("Scopes");
            var scopes = (scopesSection.Value is { } list ? list.Split(',') : scopesSection.GetChildren().Select(c => c.Value ?? ""))
                .Select(s => s.Trim()).Where(s => s.Length > 0).ToList();
            if (scopes.Count == 0)
                throw new InvalidOperationException($"{prefix}:Scopes is empty: list one or more of {string.Join(", ", ApiScopes.All)}.");
            if (scopes.FirstOrDefault(s => !ApiScopes.All.Contains(s)) is { } unknown)
                throw new InvalidOperationException($"{prefix}:Scopes names '{unknown}', which is not a scope: use {string.Join(", ", ApiScopes.All)}.");
            settings[prefix + ":Key"] = key;
            settings[prefix + ":KeyFile"] = "";
            settings[prefix + ":Scopes"] = string.Join(",", scopes.Distinct(StringComparer.Ordinal));
        }
        return settings;
    }

    private static string? Resolve(string? key, string? file, string keySetting, string fileSetting)
    {
        if (!string.IsNullOrWhiteSpace(file))
        {
            if (!string.IsNullOrWhiteSpace(key))
                throw new InvalidOperationException($"Set either {keySetting} or {fileSetting}, not both.");
            key = ReadKeyFile(Path.GetFullPath(file), fileSetting);
            if (Weakness(key) is { } weakFile)
                throw new InvalidOperationException($"The key in {fileSetting} ('{Path.GetFullPath(file)}') is too weak: {weakFile}");
            return key;
        }
        if (string.IsNullOrWhiteSpace(key)) return null;
        key = key.Trim();
        if (Weakness(key) is { } weak)
            throw new InvalidOperationException($"{keySetting} is too weak: {weak}");
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

    private static string ReadKeyFile(string path, string setting)
    {
        var entry = FileTrust.Inspect(path);
        if (!entry.Exists)
            throw new InvalidOperationException($"{setting} names '{path}', which does not exist.");
        if (entry.IsDirectory)
            throw new InvalidOperationException($"{setting} names '{path}', which is a directory.");
        if (FileTrust.Distrust(entry, FileTrust.GroupOrOthersAny) is { } reason)
            throw new InvalidOperationException($"{setting} names '{path}', which {reason}; it must be a regular file " +
                "of this server's user that group and others cannot access (chmod 600).");
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{setting} names '{path}', which cannot be read ({exception.GetType().Name}).");
        }
    }
}
