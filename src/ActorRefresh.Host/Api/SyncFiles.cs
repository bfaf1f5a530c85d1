using ActorRefresh.Core.Files;
using System.Text.Json;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>Settings of credentials-file sync, bound from <c>ActorRefresh:Sync</c>.</summary>
internal sealed class SyncOptions
{
    public const string Section = "ActorRefresh:Sync";
    public const string AllowedFoldersSetting = "ActorRefresh:Sync:AllowedFolders";

    /// <summary>Absolute folders that may hold credentials files an account keeps in sync; none means sync is off.</summary>
    public List<string> AllowedFolders { get; set; } = [];
}

/// <summary>
/// Which credentials file an import with <c>sync=true</c> may bind an account to. The server will read and write the
/// file for the account's whole life, so it must sit inside a folder the operator listed, reached only through folders
/// of the server's user that group and others cannot write (nobody else can swap a folder for a link later), and be a
/// regular, private file of that user. Paths outside the listed folders get one answer whether they exist or not.
/// </summary>
internal static class SyncFileRules
{
    /// <summary>The normalized absolute path to keep in sync.</summary>
    /// <exception cref="BadRequestBodyException">The path breaks a rule; the message says which and never whether an outside path exists.</exception>
    public static string Check(string requested, IReadOnlyList<string> allowedFolders)
    {
        if (string.IsNullOrWhiteSpace(requested) || !Path.IsPathFullyQualified(requested))
            throw new BadRequestBodyException("'sync=true' needs 'path': the absolute path of the credentials file on the server's machine.");
        if (allowedFolders.Count == 0)
            throw new BadRequestBodyException(
                $"Import with 'sync=true' is off on this server: list the folders that may hold synced credentials files in {SyncOptions.AllowedFoldersSetting}.");

        // Lexical only, before any file system access: what is outside is never looked at.
        var full = Path.GetFullPath(requested);
        var folder = allowedFolders
            .Where(Path.IsPathFullyQualified)
            .Select(f => Path.TrimEndingDirectorySeparator(Path.GetFullPath(f)))
            .FirstOrDefault(f => full.StartsWith(f + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        if (folder is null)
            throw new BadRequestBodyException($"'path' must name a file inside one of the folders listed in {SyncOptions.AllowedFoldersSetting}.");

        CheckAncestors(folder);
        // The allowed folder and every folder below it on the way to the file: the server user's own.
        var parent = Path.GetDirectoryName(full)!;
        var chain = new List<string>();
        for (var dir = parent; dir.Length >= folder.Length; dir = Path.GetDirectoryName(dir)!)
            chain.Add(dir);
        chain.Reverse();
        foreach (var dir in chain)
        {
            var entry = FileTrust.Inspect(dir);
            if (!entry.Exists || (!entry.IsDirectory && !entry.IsLink))
                throw new BadRequestBodyException($"The folder '{dir}' on the way to the credentials file does not exist.");
            if (FileTrust.Distrust(entry, FileTrust.GroupOrOthersWrite) is { } reason)
                throw new BadRequestBodyException($"The folder '{dir}' on the way to the credentials file {reason}; it must be a folder " +
                    "of this server's user that group and others cannot write.");
        }

        var file = FileTrust.Inspect(full);
        if (!file.Exists)
            throw new BadRequestBodyException($"The credentials file '{full}' does not exist.");
        if (file.IsDirectory)
            throw new BadRequestBodyException($"The credentials file '{full}' is a directory.");
        if (file.IsLink)
            throw new BadRequestBodyException($"The credentials file '{full}' is a symbolic link; refusing to follow it.");
        if (FileTrust.Distrust(file, FileTrust.GroupOrOthersAny) is { } fileReason)
            throw new BadRequestBodyException($"The credentials file '{full}' {fileReason.Replace("has mode", "has insecure permissions", StringComparison.Ordinal)}; " +
                "it must be this server's user's own file (chmod 600).");
        return full;
    }

    /// <summary>The folders above an allowed folder: root's or the server user's, and not writable by others unless sticky (/tmp).</summary>
    private static void CheckAncestors(string folder)
    {
        for (var dir = Path.GetDirectoryName(folder); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            var entry = FileTrust.Inspect(dir);
            var problem = !entry.Exists ? "does not exist"
                : entry.IsLink ? "is a symbolic link"
                : entry.Owner is { } owner && owner != 0 && owner != FileTrust.CurrentUser ? $"is owned by user {owner}"
                : (entry.Mode & FileTrust.GroupOrOthersWrite) != 0 && (entry.Mode & UnixFileMode.StickyBit) == 0 ? $"has mode {FileTrust.Octal(entry.Mode)}: group or others may write it"
                : null;
            if (problem is not null)
                throw new BadRequestBodyException($"The allowed folder '{folder}' ({SyncOptions.AllowedFoldersSetting}) is not safe: '{dir}' above it {problem}.");
        }
    }
}

/// <summary>A sync file already belongs to another account.</summary>
internal sealed class SyncFileTakenException(string path, string owner)
    : Exception($"The credentials file '{path}' is already kept in sync by account '{owner}'; one file has one refresher. Remove that account first.")
{
    public string Owner { get; } = owner;
}

/// <summary>
/// Which account keeps which credentials file in sync, so one file never gets two refreshers. The engine does not
/// publish its accounts' file paths, so the host keeps the pairs in <c>&lt;data folder&gt;/sync-files.json</c> (0600);
/// a pair whose account no longer exists is free again.
/// </summary>
internal sealed class SyncBindings(IOptions<StorageOptions> storage, IAccountAdmin accounts)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string File => Path.Combine(Path.GetFullPath(storage.Value.DataDirectory), "sync-files.json");

    /// <summary>Runs <paramref name="import"/> with <paramref name="path"/> bound to <paramref name="accountId"/> (or unbinds the account when null).</summary>
    /// <exception cref="SyncFileTakenException">Another existing account keeps the file in sync.</exception>
    public async Task<T> WithBindingAsync<T>(string accountId, string? path, Func<Task<T>> import, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var pairs = Load();
            if (path is not null && pairs.TryGetValue(path, out var owner) && owner != accountId && await ExistsAsync(owner, ct).ConfigureAwait(false))
                throw new SyncFileTakenException(path, owner);
            var result = await import().ConfigureAwait(false);
            foreach (var (file, _) in pairs.Where(p => p.Value == accountId).ToList()) pairs.Remove(file);
            if (path is not null) pairs[path] = accountId;
            Save(pairs);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Forgets the account's file after it was removed.</summary>
    public async Task ReleaseAsync(string accountId, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var pairs = Load();
            if (pairs.Values.Contains(accountId))
            {
                foreach (var (file, _) in pairs.Where(p => p.Value == accountId).ToList()) pairs.Remove(file);
                Save(pairs);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<bool> ExistsAsync(string accountId, CancellationToken ct)
    {
        try
        {
            await accounts.GetStatusAsync(accountId, ct).ConfigureAwait(false);
            return true;
        }
        catch (AccountNotFoundException)
        {
            return false;
        }
    }

    private Dictionary<string, string> Load()
    {
        if (!System.IO.File.Exists(File)) return new(StringComparer.Ordinal);
        return JsonSerializer.Deserialize<Dictionary<string, string>>(System.IO.File.ReadAllText(File)) is { } loaded
            ? new(loaded, StringComparer.Ordinal)
            : new(StringComparer.Ordinal);
    }

    private void Save(Dictionary<string, string> pairs)
    {
        var directory = Path.GetDirectoryName(File)!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
            else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var temporary = File + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temporary, options))
            JsonSerializer.Serialize(stream, pairs);
        System.IO.File.Move(temporary, File, overwrite: true);
    }
}
