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

    /// <summary>Configuration key of the previous keys (base64 each), which decrypt but never encrypt: key rotation.</summary>
    public const string PreviousKeysSetting = "ActorRefresh:Storage:PreviousEncryptionKeys";

    /// <summary>Configuration key of files holding previous keys (base64 each), checked like the data folder's key file.</summary>
    public const string PreviousKeyFilesSetting = "ActorRefresh:Storage:PreviousEncryptionKeyFiles";

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
    /// Reads a key from a file the operator names (<paramref name="setting"/>): inspected without following a link and
    /// refused unless a regular file of this server's user that group and others cannot access (mode 0600).
    /// </summary>
    /// <exception cref="InvalidOperationException">Missing, a link, a directory, not private, unreadable or not a key; the message names the setting and the path, never the content.</exception>
    public static byte[] ReadFile(string path, string setting)
    {
        var full = Path.GetFullPath(path);
        var entry = FileTrust.Inspect(full);
        if (!entry.Exists) throw new InvalidOperationException($"{setting} names '{full}', which does not exist.");
        if (entry.IsDirectory) throw new InvalidOperationException($"{setting} names '{full}', which is a directory.");
        if (FileTrust.Distrust(entry, FileTrust.GroupOrOthersAny) is { } reason)
            throw new InvalidOperationException($"{setting} names '{full}', which {reason}; it must be a regular file of this server's user that group and others cannot access (chmod 600).");
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{setting} names '{full}', which cannot be read ({exception.GetType().Name}).");
        }
        return Parse(text, $"{setting} ('{full}')");
    }

    /// <summary>The data folder's key file when it exists (checked as <see cref="LoadOrCreate"/> checks it), else null; never creates it.</summary>
    public static byte[]? LoadExisting(string dataDirectory) =>
        FileTrust.Inspect(Path.Combine(dataDirectory, KeyFileName)).Exists ? LoadOrCreate(dataDirectory, out _) : null;

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
