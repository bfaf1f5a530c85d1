using ActorRefresh.Core.Files;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Persistence;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// The token encryption key ring from <c>ActorRefresh:Storage</c>: the current key (<c>EncryptionKey</c>, or the data
/// folder's generated key file) and the previous keys (<c>PreviousEncryptionKeys</c>, <c>PreviousEncryptionKeyFiles</c>),
/// checked against each other and against the store before the engine starts.
/// </summary>
internal static class StorageKeyRing
{
    /// <summary>
    /// Adds a single comma-separated <c>PreviousEncryptionKeys</c> value and a single <c>PreviousEncryptionKeyFiles</c> path,
    /// which the binder ignores (it binds only <c>:0</c>, <c>:1</c>, …): a key set that way must not be silently dropped.
    /// </summary>
    public static void AddListValues(StorageOptions options, IConfiguration configuration)
    {
        if (configuration[TokenEncryptionKey.PreviousKeysSetting] is { Length: > 0 } keys)
            foreach (var key in keys.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                options.PreviousEncryptionKeys.Add(key);
        if (configuration[TokenEncryptionKey.PreviousKeyFilesSetting] is { Length: > 0 } file)
            options.PreviousEncryptionKeyFiles.Add(file.Trim());
    }

    /// <summary>
    /// The key ring <c>serve</c> uses: creates the data folder (0700) and, when no key is configured, the key file (0600);
    /// reads the previous keys; refuses duplicates; then checks the store's key ids (<see cref="StoredKeyCheck"/>).
    /// </summary>
    /// <exception cref="OptionsValidationException">A folder, key or store problem; the message names the setting.</exception>
    public static StorageKey Resolve(StorageOptions storage, ILogger logger)
    {
        var directory = Path.GetFullPath(storage.DataDirectory);
        try
        {
            if (!Directory.Exists(directory))
            {
                if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
                else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            // A folder someone else owns or may write could hold a planted key and database, or have them swapped later.
            if (FileTrust.Distrust(FileTrust.Inspect(directory), FileTrust.GroupOrOthersWrite) is { } reason)
                throw Invalid($"{StorageOptions.Section}:DataDirectory '{directory}' {reason}; it must be a folder of this server's user that group and others cannot write (chmod 700).");
            var probe = Path.Combine(directory, ".write-probe");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Invalid($"{StorageOptions.Section}:DataDirectory '{directory}' is not writable: {e.Message}");
        }

        byte[] key;
        if (!string.IsNullOrWhiteSpace(storage.EncryptionKey))
            key = TokenEncryptionKey.Parse(storage.EncryptionKey, TokenEncryptionKey.ConfigurationKey);
        else
        {
            key = TokenEncryptionKey.LoadOrCreate(directory, out var created);
            if (created)
                logger.LogWarning("No {Key} configured: generated a token encryption key in {Path} (mode 0600). Back it up: without it the stored tokens cannot be read.",
                    TokenEncryptionKey.ConfigurationKey, Path.Combine(directory, TokenEncryptionKey.KeyFileName));
        }
        var previous = Previous(storage, key);
        var ids = new List<string> { TokenCipher.KeyIdOf(key) };
        ids.AddRange(previous.Select(TokenCipher.KeyIdOf));
        if (previous.Count > 0)
            logger.LogInformation("Token encryption key id {KeyId} encrypts; previous key ids {PreviousKeyIds} only decrypt. `actor-refresh storage-keys` counts the rows still under each.",
                ids[0], string.Join(", ", ids.Skip(1)));
        // A wrong key stops the start here, once, instead of failing each account's recovery.
        if (StoredKeyCheck.Problem(storage, ids) is { } problem)
            throw Invalid(problem);
        return new StorageKey(key, previous);
    }

    /// <summary>
    /// The key ids of the configured ring, for reports: the current key's (null when none is configured and the data
    /// folder has no key file; nothing is created) and the previous keys'.
    /// </summary>
    /// <exception cref="OptionsValidationException">A key or key file is unusable; the message names the setting.</exception>
    public static (string? Current, IReadOnlyList<string> Previous) KeyIds(StorageOptions storage)
    {
        byte[]? key;
        try
        {
            key = !string.IsNullOrWhiteSpace(storage.EncryptionKey)
                ? TokenEncryptionKey.Parse(storage.EncryptionKey, TokenEncryptionKey.ConfigurationKey)
                : TokenEncryptionKey.LoadExisting(Path.GetFullPath(storage.DataDirectory));
        }
        catch (InvalidOperationException e)
        {
            throw Invalid(e.Message);
        }
        var previous = Previous(storage, key);
        return (key is null ? null : TokenCipher.KeyIdOf(key), previous.Select(TokenCipher.KeyIdOf).ToList());
    }

    /// <summary>The previous keys, from settings then files, each distinct from the current key and from each other.</summary>
    private static List<byte[]> Previous(StorageOptions storage, byte[]? current)
    {
        var keys = new List<(byte[] Key, string Setting)>();
        try
        {
            for (var i = 0; i < storage.PreviousEncryptionKeys.Count; i++)
            {
                var setting = $"{TokenEncryptionKey.PreviousKeysSetting}:{i}";
                keys.Add((TokenEncryptionKey.Parse(storage.PreviousEncryptionKeys[i] ?? "", setting), setting));
            }
            for (var i = 0; i < storage.PreviousEncryptionKeyFiles.Count; i++)
            {
                var setting = $"{TokenEncryptionKey.PreviousKeyFilesSetting}:{i}";
                keys.Add((TokenEncryptionKey.ReadFile(storage.PreviousEncryptionKeyFiles[i] ?? "", setting), setting));
            }
        }
        catch (InvalidOperationException e)
        {
            throw Invalid(e.Message);
        }
        // By key id: equal keys have equal ids, and two keys sharing an id (8 hex digits) could not be told apart when reading.
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        if (current is not null)
            seen[TokenCipher.KeyIdOf(current)] = string.IsNullOrWhiteSpace(storage.EncryptionKey)
                ? $"the data folder's {TokenEncryptionKey.KeyFileName}"
                : TokenEncryptionKey.ConfigurationKey;
        foreach (var (key, setting) in keys)
        {
            var id = TokenCipher.KeyIdOf(key);
            if (seen.TryGetValue(id, out var other))
                throw Invalid($"{setting} is the same key as {other} (key id {id}): list each previous key once, and never the current key.");
            seen[id] = setting;
        }
        return keys.Select(k => k.Key).ToList();
    }

    private static OptionsValidationException Invalid(string message) =>
        new(StorageOptions.Section, typeof(StorageOptions), [message]);
}

/// <summary>What <c>actor-refresh storage-keys</c> reports: the store, the configured key ids, and the rows per key id.</summary>
/// <param name="Store">Where the store is; null when there is none yet.</param>
/// <param name="Current">The current key's id; null when none is configured or generated yet.</param>
/// <param name="Previous">The previous keys' ids.</param>
/// <param name="Rows">Journal and snapshot rows with token fields, per key id (<c>v1</c>: fields without a key id).</param>
internal sealed record StorageKeyReport(string? Store, string? Current, IReadOnlyList<string> Previous, IReadOnlyDictionary<string, long> Rows)
{
    /// <summary>Reads the store of <paramref name="storage"/> (nothing is created or written).</summary>
    /// <exception cref="OptionsValidationException">A key or key file is unusable.</exception>
    /// <exception cref="System.Data.Common.DbException">The store cannot be read.</exception>
    public static StorageKeyReport Read(StorageOptions storage)
    {
        var (current, previous) = StorageKeyRing.KeyIds(storage);
        var inventory = StoredKeyCheck.Read(storage);
        return new StorageKeyReport(inventory?.Where, current, previous, inventory?.Rows ?? new Dictionary<string, long>());
    }

    /// <summary>The label of <c>v1:</c> rows.</summary>
    public const string NoKeyId = StoredKeyCheck.NoKeyId;
}
