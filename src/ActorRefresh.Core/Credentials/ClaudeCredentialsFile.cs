using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Credentials;

/// <summary>
/// Reads and writes the Claude Code credentials file (<c>~/.claude/.credentials.json</c>):
/// <c>{"claudeAiOauth":{"accessToken":…,"refreshToken":…,"expiresAt":&lt;epoch ms&gt;,"scopes":[…],"subscriptionType":…}}</c>.
/// Writes are atomic and keep every key this library does not own.
/// </summary>
public static class ClaudeCredentialsFile
{
    private const string Section = "claudeAiOauth";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    /// <summary>Largest file accepted; a real credentials file is well under a kilobyte.</summary>
    private const long MaxFileBytes = 1024 * 1024;

    /// <summary>The file the Claude Code CLI uses: <c>~/.claude/.credentials.json</c>.</summary>
    public static string DefaultPath { get; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".claude", ".credentials.json");

    /// <summary>Reads and parses a credentials file.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="CredentialsFileException">The file is missing, a symbolic link, readable or writable by
    /// group/others (Unix), not JSON, or lacks a usable <c>claudeAiOauth</c> section. A file without <c>refreshToken</c> is
    /// read (its <see cref="ClaudeCredentials.RefreshToken"/> is null).</exception>
    public static ClaudeCredentials Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        CheckFile(path, mustExist: true);
        string json;
        try
        {
            if (new FileInfo(path).Length > MaxFileBytes)
                throw new CredentialsFileException(path, $"is larger than {MaxFileBytes} bytes; not a credentials file.");
            json = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CredentialsFileException(path, $"cannot be read ({ex.GetType().Name}).", ex);
        }
        return Parse(json, path);
    }

    /// <summary>Parses credentials JSON, e.g. a file uploaded over HTTP.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="sourceName">Name used in error messages (a path or "upload").</param>
    /// <exception cref="CredentialsFileException">The text is not JSON or lacks a usable <c>claudeAiOauth</c> section.</exception>
    public static ClaudeCredentials Parse(string json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(sourceName);
        var root = ParseNode(json, sourceName);
        if (root is not JsonObject obj)
            throw new CredentialsFileException(sourceName, "is not a JSON object.");
        try
        {
            if (!obj.TryGetPropertyValue(Section, out var sectionNode) || sectionNode is not JsonObject section)
                throw new CredentialsFileException(sourceName, $"has no '{Section}' object.");

            var access = RequiredString(section, "accessToken", sourceName);
            // No refresh token (absent or null): a long-lived token (claude setup-token) or an access-only file. Present, it must be usable.
            var refresh = section.TryGetPropertyValue("refreshToken", out var refreshNode) && refreshNode is not null
                ? new Secret(RequiredString(section, "refreshToken", sourceName))
                : null;
            var expiresAt = ReadExpiresAt(section, sourceName);
            var scopes = ReadScopes(section, sourceName);
            var subscription = section.TryGetPropertyValue("subscriptionType", out var sub) && sub is JsonValue sv && sv.TryGetValue<string>(out var s) ? s : null;
            // Written by some Claude Code versions: when the grant itself ends (a refresh cannot go past it).
            var grantEnds = section.TryGetPropertyValue("refreshTokenExpiresAt", out var grantNode) && grantNode is not null
                ? ReadEpochMs(section, "refreshTokenExpiresAt", sourceName)
                : (DateTimeOffset?)null;
            return new ClaudeCredentials(new Secret(access), refresh, expiresAt, scopes, subscription) { RefreshTokenExpiresAt = grantEnds };
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json parses a lone surrogate escape ("\ud800") lazily and throws when the string is read.
            throw new CredentialsFileException(sourceName, "contains a string that is not valid UTF-16 (a lone surrogate escape).");
        }
        catch (ArgumentException)
        {
            // JsonObject builds its properties lazily and refuses a key that appears twice when it does.
            throw new CredentialsFileException(sourceName, "has a key that appears twice in one object.");
        }
    }

    /// <summary>
    /// Writes <paramref name="credentials"/> atomically: the existing JSON is kept except
    /// <c>accessToken</c>, <c>refreshToken</c> (removed for credentials without one), <c>expiresAt</c> and <c>scopes</c>
    /// (and <c>subscriptionType</c> when the file has none); a temporary file with mode 0600 in the same folder is flushed to disk and
    /// renamed over the target. An existing file that is not JSON is replaced: the new token pair is worth
    /// more than unreadable bytes (the old refresh token is consumed anyway).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="credentials">The credentials to store.</param>
    /// <exception cref="CredentialsFileException">The path is a symbolic link or the file cannot be written.</exception>
    public static void Write(string path, ClaudeCredentials credentials)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(credentials);
        var full = System.IO.Path.GetFullPath(path);
        var (root, section) = ReadForUpdate(full);
        WriteAtomically(full, Merged(root, section, credentials));
    }

    /// <summary>
    /// The bytes <see cref="Write"/> would write over a file holding <paramref name="existingJson"/> (null, or text that
    /// is not a JSON object, for a fresh file), for callers that do their own file access.
    /// </summary>
    internal static byte[] Merge(string? existingJson, ClaudeCredentials credentials)
    {
        var root = existingJson is not null && TryParseObject(existingJson) is { } existing ? existing : new JsonObject();
        if (root[Section] is not JsonObject section)
        {
            section = new JsonObject();
            root[Section] = section;
        }
        return Merged(root, section, credentials);
    }

    private static byte[] Merged(JsonObject root, JsonObject section, ClaudeCredentials credentials)
    {
        section["accessToken"] = credentials.AccessToken.Reveal();
        if (credentials.RefreshToken is { } refresh) section["refreshToken"] = refresh.Reveal();
        else section.Remove("refreshToken");
        section["expiresAt"] = credentials.ExpiresAt.ToUnixTimeMilliseconds();
        section["scopes"] = new JsonArray(credentials.Scopes.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        if (credentials.SubscriptionType is not null && !section.ContainsKey("subscriptionType"))
            section["subscriptionType"] = credentials.SubscriptionType;
        return Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Largest credentials file read.</summary>
    internal const long MaxBytes = MaxFileBytes;

    /// <summary>
    /// Writes a Claude credentials file that holds an access token and <b>no refresh token</b>, for a sandbox or a CLI
    /// that must use the account's token without being able to spend its grant: the existing JSON is kept except
    /// <c>accessToken</c>, <c>expiresAt</c>, <c>scopes</c> (when <paramref name="scopes"/> is given), and a
    /// <c>refreshToken</c> is removed. Atomic and mode 0600, as <see cref="Write"/>.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="accessToken">The access token.</param>
    /// <param name="expiresAt">When it expires.</param>
    /// <param name="scopes">The scopes to record, or null to keep what the file has.</param>
    /// <exception cref="CredentialsFileException">The path is a symbolic link or the file cannot be written.</exception>
    public static void WriteAccessOnly(string path, Secret accessToken, DateTimeOffset expiresAt, IReadOnlyList<string>? scopes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(accessToken);
        var full = System.IO.Path.GetFullPath(path);
        var (root, section) = ReadForUpdate(full);
        section["accessToken"] = accessToken.Reveal();
        section.Remove("refreshToken");
        section["expiresAt"] = expiresAt.ToUnixTimeMilliseconds();
        if (scopes is not null)
            section["scopes"] = new JsonArray(scopes.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        WriteAtomically(full, Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
    }

    /// <summary>
    /// The file's JSON (an empty object when it does not exist or is not JSON) and its <c>claudeAiOauth</c> object
    /// (added when missing), for a write that keeps every key it does not own.
    /// </summary>
    private static (JsonObject Root, JsonObject Section) ReadForUpdate(string full)
    {
        CheckFile(full, mustExist: false, checkMode: false);
        JsonObject root;
        try
        {
            root = File.Exists(full) && TryParseObject(File.ReadAllText(full, Encoding.UTF8)) is { } existing ? existing : new JsonObject();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CredentialsFileException(full, $"cannot be read before writing ({ex.GetType().Name}).", ex);
        }
        if (root[Section] is not JsonObject section)
        {
            section = new JsonObject();
            root[Section] = section;
        }
        return (root, section);
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically with mode 0600, refusing a symbolic link.</summary>
    /// <exception cref="CredentialsFileException">The path is a symbolic link or the file cannot be written.</exception>
    internal static void WritePrivateText(string path, string text)
    {
        var full = System.IO.Path.GetFullPath(path);
        CheckFile(full, mustExist: false, checkMode: false);
        WriteAtomically(full, Encoding.UTF8.GetBytes(text));
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var directory = System.IO.Path.GetDirectoryName(path) ?? ".";
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            if (!Directory.Exists(directory))
            {
                if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
                else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            // Created 0600 from the first byte, so there is no window in which the token is readable by others.
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new CredentialsFileException(path, $"cannot be written ({ex.GetType().Name}).", ex);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the write already failed and that error is the one to report.
        }
    }

    private static void CheckFile(string path, bool mustExist, bool checkMode = true)
    {
        FileInfo info;
        try
        {
            info = new FileInfo(path);
            if (info.LinkTarget is not null)
                throw new CredentialsFileException(path, "is a symbolic link; refusing to follow it (point to the real file).");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CredentialsFileException(path, $"cannot be inspected ({ex.GetType().Name}).", ex);
        }
        if (!info.Exists)
        {
            if (Directory.Exists(path))
                throw new CredentialsFileException(path, "is a directory, not a file.");
            if (mustExist)
                throw new CredentialsFileException(path, "does not exist.");
            return;
        }
        if (checkMode && !OperatingSystem.IsWindows())
        {
            var mode = info.UnixFileMode;
            if ((mode & GroupOrOthers) != 0)
                throw new CredentialsFileException(path,
                    $"has insecure permissions {Files.FileTrust.Octal(mode)} (group or others may access it); run chmod 600 on it.");
        }
    }

    private static JsonNode? ParseNode(string json, string sourceName)
    {
        try
        {
            return JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            // Only the position: the parser's own message may quote the offending text (a token).
            var where = ex.LineNumber is { } line
                ? string.Create(CultureInfo.InvariantCulture, $" (line {line + 1}, byte {ex.BytePositionInLine + 1})")
                : "";
            throw new CredentialsFileException(sourceName, $"is not valid JSON{where}.");
        }
    }

    private static JsonObject? TryParseObject(string json)
    {
        try
        {
            var node = JsonNode.Parse(json) as JsonObject;
            _ = node?.Count; // materializes the properties: duplicate keys throw here, not later
            return node;
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string RequiredString(JsonObject section, string name, string sourceName)
    {
        if (!section.TryGetPropertyValue(name, out var node) || node is null)
            throw new CredentialsFileException(sourceName, $"'{Section}.{name}' is missing.");
        if (node is not JsonValue value || !value.TryGetValue<string>(out var text))
            throw new CredentialsFileException(sourceName, $"'{Section}.{name}' is not a string.");
        if (string.IsNullOrWhiteSpace(text))
            throw new CredentialsFileException(sourceName, $"'{Section}.{name}' is empty.");
        return text;
    }

    private static DateTimeOffset ReadExpiresAt(JsonObject section, string sourceName) => ReadEpochMs(section, "expiresAt", sourceName);

    private static DateTimeOffset ReadEpochMs(JsonObject section, string name, string sourceName)
    {
        var key = Section + "." + name;
        if (!section.TryGetPropertyValue(name, out var node) || node is null)
            throw new CredentialsFileException(sourceName, $"'{key}' is missing.");
        if (node is not JsonValue value)
            throw new CredentialsFileException(sourceName, $"'{key}' is not a number of epoch milliseconds.");
        double ms;
        if (value.GetValueKind() == JsonValueKind.Number)
            ms = value.GetValue<double>();
        else if (value.TryGetValue<string>(out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
            ms = parsed; // tolerated: some tools write numbers as strings
        else
            throw new CredentialsFileException(sourceName, $"'{key}' is not a number of epoch milliseconds.");
        if (double.IsNaN(ms) || ms < 0 || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
            throw new CredentialsFileException(sourceName, $"'{key}' is out of range for epoch milliseconds.");
        return DateTimeOffset.FromUnixTimeMilliseconds((long)ms);
    }

    private static IReadOnlyList<string> ReadScopes(JsonObject section, string sourceName)
    {
        if (!section.TryGetPropertyValue("scopes", out var node) || node is null)
            return [];
        switch (node)
        {
            case JsonArray array:
                var scopes = new List<string>(array.Count);
                foreach (var item in array)
                {
                    if (item is JsonValue v && v.TryGetValue<string>(out var s) && !string.IsNullOrWhiteSpace(s))
                        scopes.Add(s);
                }
                return scopes;
            case JsonValue value when value.TryGetValue<string>(out var spaced):
                // OAuth writes scope as one space-separated string; accept that shape too.
                return spaced.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            default:
                throw new CredentialsFileException(sourceName, $"'{Section}.scopes' is not a list of strings.");
        }
    }
}
