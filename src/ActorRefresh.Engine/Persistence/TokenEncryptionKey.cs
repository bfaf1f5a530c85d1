using System.Security.Cryptography;
using ActorRefresh.Core.Files;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Finds the key that encrypts tokens at rest: from configuration (<c>ActorRefresh:Storage:EncryptionKey</c>,
/// base64 of 32 bytes) or, when none is configured, from a key file in the data folder, created with mode 0600
/// on first start.
/// </summary>
internal static class TokenEncryptionKey
{
    /// <summary>Configuration key of the base64 encryption key.</summary>
    public const string ConfigurationKey = "ActorRefresh:Storage:EncryptionKey";

    /// <summary>Name of the generated key file in the data folder.</summary>
    public const string KeyFileName = "token-encryption.key";

    /// <summary>Decodes a configured key. Returns an error naming the configuration key when it is unusable.</summary>
    public static byte[] Parse(string base64, string source = ConfigurationKey)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(base64.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{source} is not valid base64.");
        }
        if (key.Length != 32)
            throw new InvalidOperationException($"{source} must decode to 32 bytes (it decodes to {key.Length}).");
        return key;
    }

    /// <summary>
    /// Reads the key file in <paramref name="dataDirectory"/>, creating it (mode 0600) when missing.
    /// <paramref name="created"/> tells whether a new key was generated, so the caller logs it once.
    /// </summary>
    public static byte[] LoadOrCreate(string dataDirectory, out bool created)
    {
        var path = Path.Combine(dataDirectory, KeyFileName);
        created = false;
        // Inspected without following a link; the folder was checked first (the server's user's, not writable by group
        // or others), so nobody else can swap the file between this check and the read.
        var entry = FileTrust.Inspect(path);
        if (entry.Exists)
        {
            if (entry.IsDirectory) throw new InvalidOperationException($"Key file '{path}' is a directory.");
            if (FileTrust.Distrust(entry, FileTrust.GroupOrOthersAny) is { } reason)
                throw new InvalidOperationException($"Key file '{path}' {reason}; it must be a regular file of this server's user that group and others cannot access (chmod 600).");
            return Parse(File.ReadAllText(path), $"key file '{path}'");
        }
        var key = RandomNumberGenerator.GetBytes(32);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(Convert.ToBase64String(key));
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        created = true;
        return key;
    }
}
