using ActorRefresh.Core.Credentials;
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

/// <summary>File I/O of the credentials sync, run off the actor thread (results are piped back).</summary>
internal static class CredentialsFileSync
{
    public static Task<CredentialsFileSnapshot> ReadAsync(string path) => Task.Run(() =>
    {
        try
        {
            return new CredentialsFileSnapshot(ClaudeCredentialsFile.Read(path), null);
        }
        catch (CredentialsFileException e)
        {
            return new CredentialsFileSnapshot(null, e.Message);
        }
    });

    /// <summary>Writes the pair back atomically, keeping the file's scopes and every key the engine does not own. Returns an error text or null.</summary>
    public static Task<string?> WriteAsync(string path, Secret accessToken, Secret refreshToken, DateTimeOffset expiresAt) => Task.Run(() =>
    {
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
}
