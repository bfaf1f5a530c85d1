using System.Text;
using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Files;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Engine.Credentials;

/// <summary>What a read of an account's Claude credentials file found.</summary>
/// <param name="Credentials">The credentials, when the file was readable.</param>
/// <param name="Error">Why it was not (names the path and the fault, never a token).</param>
internal sealed record CredentialsFileSnapshot(ClaudeCredentials? Credentials, string? Error);

/// <summary>What to do about a credentials file that another program (the Claude Code CLI) may also write.</summary>
internal enum CredentialsFileDecision
{
    /// <summary>The file holds what the account holds (or something older that the account already replaced and wrote back).</summary>
    Nothing,
    /// <summary>The file holds a newer pair: adopt it instead of spending a refresh token the other program consumed.</summary>
    Adopt,
    /// <summary>The file holds an older pair: write the account's pair back.</summary>
    WriteBack,
}

/// <summary>
/// File I/O of the credentials sync, run off the actor thread (results are piped back). On Linux the file's folder is
/// opened one level at a time without following links (<see cref="NoFollowFolder"/>) and the file is read, and
/// replaced through a temporary file and <c>renameat</c>, relative to that folder: a folder on the way swapped for a
/// link after the import makes the read or write fail instead of reaching another place. Error texts name no path
/// and no token (they are shown in the account's status).
/// </summary>
internal static class CredentialsFileSync
{
    public static Task<CredentialsFileSnapshot> ReadAsync(string path) => Task.Run(() =>
    {
        try
        {
            if (!NoFollowFolder.IsSupported) return new CredentialsFileSnapshot(ClaudeCredentialsFile.Read(path), null);
            var (folder, name) = Split(path);
            using var dir = NoFollowFolder.Open(folder);
            var json = Encoding.UTF8.GetString(dir.ReadPrivateFile(name, ClaudeCredentialsFile.MaxBytes));
            return new CredentialsFileSnapshot(ClaudeCredentialsFile.Parse(json, name), null);
        }
        catch (NoFollowException e)
        {
            return new CredentialsFileSnapshot(null, "Credentials file not read: " + Describe(e));
        }
        catch (CredentialsFileException e)
        {
            return new CredentialsFileSnapshot(null, "Credentials file not read: " + Fault(e));
        }
    });

    private static (string Folder, string Name) Split(string path)
    {
        var full = Path.GetFullPath(path);
        return (Path.GetDirectoryName(full) ?? "/", Path.GetFileName(full));
    }

    private static string Describe(NoFollowException e) => e.Message.StartsWith("a folder", StringComparison.Ordinal) ? e.Message : "the file " + e.Message;

    /// <summary>The fault of a <see cref="CredentialsFileException"/> without the path it names.</summary>
    private static string Fault(CredentialsFileException e) =>
        e.Message.StartsWith($"Credentials file '{e.Path}': ", StringComparison.Ordinal) ? "the file " + e.Message[($"Credentials file '{e.Path}': ".Length)..] : e.GetType().Name;

    /// <summary>Writes the pair back atomically, keeping the file's scopes and every key the engine does not own. Returns an error text or null.</summary>
    public static Task<string?> WriteAsync(string path, Secret accessToken, Secret refreshToken, DateTimeOffset expiresAt) => Task.Run(() =>
    {
        if (NoFollowFolder.IsSupported) return WriteNoFollow(path, accessToken, refreshToken, expiresAt);
        try
        {
            IReadOnlyList<string> scopes = [];
            string? subscription = null;
            if (File.Exists(path))
            {
                try
                {
                    var existing = ClaudeCredentialsFile.Read(path);
                    (scopes, subscription) = (existing.Scopes, existing.SubscriptionType);
                }
                catch (CredentialsFileException)
                {
                    // An unreadable file is replaced with the current pair; its scopes are lost with it.
                }
            }
            ClaudeCredentialsFile.Write(path, new ClaudeCredentials(accessToken, refreshToken, expiresAt, scopes, subscription));
            return (string?)null;
        }
        catch (CredentialsFileException e)
        {
            return e.Message;
        }
    });

    private static string? WriteNoFollow(string path, Secret accessToken, Secret refreshToken, DateTimeOffset expiresAt)
    {
        try
        {
            var (folder, name) = Split(path);
            using var dir = NoFollowFolder.Open(folder);
            string? existing = null;
            IReadOnlyList<string> scopes = [];
            string? subscription = null;
            if (dir.Exists(name))
            {
                try
                {
                    existing = Encoding.UTF8.GetString(dir.ReadPrivateFile(name, ClaudeCredentialsFile.MaxBytes));
                    var parsed = ClaudeCredentialsFile.Parse(existing, name);
                    (scopes, subscription) = (parsed.Scopes, parsed.SubscriptionType);
                }
                catch (NoFollowException e) when (!e.Refused)
                {
                    existing = null; // unreadable (too large, not private): replaced with the current pair
                }
                catch (CredentialsFileException)
                {
                    // Not a credentials file: its other keys are kept when it is a JSON object, its scopes are lost.
                }
            }
            dir.WriteAtomically(name, ClaudeCredentialsFile.Merge(existing, new ClaudeCredentials(accessToken, refreshToken, expiresAt, scopes, subscription)));
            return null;
        }
        catch (NoFollowException e)
        {
            return "Credentials file not written: " + Describe(e) + " The account keeps its tokens in its journal.";
        }
    }
}
