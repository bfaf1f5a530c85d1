namespace ActorRefresh.Engine;

/// <summary>Which database holds the journal and snapshots.</summary>
public enum StorageProvider
{
    /// <summary>A SQLite file in the data folder: the embedded, single-node default.</summary>
    Sqlite,
    /// <summary>PostgreSQL: the store for clusters.</summary>
    PostgreSql,
}

/// <summary>Where the engine keeps its journal and its key, bound from <c>ActorRefresh:Storage</c>.</summary>
public sealed class StorageOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string Section = "ActorRefresh:Storage";

    /// <summary>Journal and snapshot database.</summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>
    /// Folder for the SQLite file and the generated key file (created with mode 0700; refused when a link, another user's,
    /// or writable by group or others). Default: <see cref="DefaultDataDirectory"/>.
    /// </summary>
    public string DataDirectory { get; set; } = DefaultDataDirectory(Environment.GetEnvironmentVariable);

    /// <summary>
    /// The per-user default data folder, absolute so it does not depend on the working directory: on Linux
    /// <c>$XDG_DATA_HOME/actor-refresh</c> (when absolute) or <c>~/.local/share/actor-refresh</c>; on macOS
    /// <c>~/Library/Application Support/actor-refresh</c>; on Windows <c>%LOCALAPPDATA%\ActorRefresh</c>.
    /// </summary>
    /// <param name="environment">Reads an environment variable.</param>
    public static string DefaultDataDirectory(Func<string, string?> environment)
    {
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "ActorRefresh");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsMacOS())
            return Path.Combine(home, "Library", "Application Support", "actor-refresh");
        // The XDG base directory specification: a relative value is invalid and ignored.
        var xdg = environment("XDG_DATA_HOME");
        return !string.IsNullOrEmpty(xdg) && Path.IsPathFullyQualified(xdg)
            ? Path.Combine(xdg, "actor-refresh")
            : Path.Combine(home, ".local", "share", "actor-refresh");
    }

    /// <summary>Connection string; for SQLite it defaults to a file in <see cref="DataDirectory"/>. Required for PostgreSQL.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Base64 of a 32-byte key that encrypts tokens at rest; without one a key file is generated in the data folder.</summary>
    public string? EncryptionKey { get; set; }

    /// <summary>
    /// Key rotation: previous keys (base64 of 32 bytes each, <c>PreviousEncryptionKeys:0</c>, <c>:1</c>, … or one
    /// comma-separated value). They decrypt tokens stored under them, never encrypt; each account's history is rewritten
    /// under <see cref="EncryptionKey"/> at its next start, after which a previous key can be removed.
    /// </summary>
    public IList<string> PreviousEncryptionKeys { get; set; } = [];

    /// <summary>As <see cref="PreviousEncryptionKeys"/>, from files (base64 content; a regular file of the server's user, mode 0600, not a link).</summary>
    public IList<string> PreviousEncryptionKeyFiles { get; set; } = [];

    /// <summary>The connection string in effect.</summary>
    public string EffectiveConnectionString => Provider switch
    {
        StorageProvider.Sqlite when string.IsNullOrWhiteSpace(ConnectionString) =>
            // No pooling: a connection SQLite opened while the file could not be written (full or read-only disk,
            // immutable file) stays read-only for its whole life; pooled, it would keep every later write failing
            // after the disk is writable again. Opening a SQLite file per operation costs microseconds.
            $"Data Source={Path.GetFullPath(Path.Combine(DataDirectory, "actor-refresh.db"))};Pooling=False",
        _ => ConnectionString ?? "",
    };

    /// <summary>Returns the problems with these options, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(DataDirectory))
            errors.Add($"{Section}:DataDirectory must not be empty.");
        if (Provider == StorageProvider.PostgreSql && string.IsNullOrWhiteSpace(ConnectionString))
            errors.Add($"{Section}:ConnectionString is required when {Section}:Provider is PostgreSql.");
        if (!string.IsNullOrWhiteSpace(EncryptionKey))
        {
            try
            {
                Persistence.TokenEncryptionKey.Parse(EncryptionKey, $"{Section}:EncryptionKey");
            }
            catch (InvalidOperationException e)
            {
                errors.Add(e.Message);
            }
        }
        for (var i = 0; i < PreviousEncryptionKeys.Count; i++)
        {
            try
            {
                Persistence.TokenEncryptionKey.Parse(PreviousEncryptionKeys[i] ?? "", $"{Section}:PreviousEncryptionKeys:{i}");
            }
            catch (InvalidOperationException e)
            {
                errors.Add(e.Message);
            }
        }
        for (var i = 0; i < PreviousEncryptionKeyFiles.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(PreviousEncryptionKeyFiles[i]))
                errors.Add($"{Section}:PreviousEncryptionKeyFiles:{i} is empty: name a key file or remove the entry.");
        }
        return errors;
    }
}
