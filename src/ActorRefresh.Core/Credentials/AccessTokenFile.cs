using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Credentials;

/// <summary>How an access-only file holds the access token.</summary>
internal enum AccessTokenFileFormat
{
    /// <summary>A Claude Code <c>.credentials.json</c> with the access token, its expiry and scopes, and no refresh token.</summary>
    Claude,

    /// <summary>The bare access token and a newline.</summary>
    Token,

    /// <summary>One <c>NAME=token</c> line, for <c>--env-file</c> and <c>source</c>.</summary>
    Env,
}

/// <summary>
/// Access-only files: an account's current access token for a sandbox or a CLI that must not hold the refresh token
/// (whoever holds a copy of it can spend it and kill the token family). Written atomically, mode 0600, never through a
/// symbolic link. Used by the engine's materialized files and by <c>actor-refresh materialize</c>.
/// </summary>
internal static class AccessTokenFile
{
    /// <summary>The variable of the <see cref="AccessTokenFileFormat.Env"/> format unless another is configured.</summary>
    public const string DefaultVariable = "CLAUDE_CODE_OAUTH_TOKEN";

    /// <summary>The format named <paramref name="name"/> (<c>claude</c>, <c>token</c>, <c>env</c>; any case).</summary>
    public static bool TryParseFormat(string? name, out AccessTokenFileFormat format)
    {
        format = default;
        return name is not null && !int.TryParse(name, out _) && Enum.TryParse(name, ignoreCase: true, out format);
    }

    /// <summary>True when <paramref name="name"/> can name an environment variable.</summary>
    public static bool IsVariableName(string? name) =>
        name is { Length: > 0 } && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>Writes <paramref name="accessToken"/> to <paramref name="path"/> in <paramref name="format"/>.</summary>
    /// <param name="path">The file.</param>
    /// <param name="format">How the token is written.</param>
    /// <param name="variable">The variable name of the env format.</param>
    /// <param name="accessToken">The token.</param>
    /// <param name="expiresAt">When it expires (recorded by the Claude format).</param>
    /// <param name="scopes">Scopes for the Claude format; null keeps what the file has.</param>
    /// <exception cref="CredentialsFileException">The path is a symbolic link or the file cannot be written (the message names the path, never the token).</exception>
    public static void Write(string path, AccessTokenFileFormat format, string variable, Secret accessToken, DateTimeOffset expiresAt, IReadOnlyList<string>? scopes)
    {
        switch (format)
        {
            case AccessTokenFileFormat.Claude:
                ClaudeCredentialsFile.WriteAccessOnly(path, accessToken, expiresAt, scopes);
                break;
            case AccessTokenFileFormat.Token:
                ClaudeCredentialsFile.WritePrivateText(path, accessToken.Reveal() + "\n");
                break;
            case AccessTokenFileFormat.Env:
                ClaudeCredentialsFile.WritePrivateText(path, $"{variable}={accessToken.Reveal()}\n");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, "unknown access-only file format");
        }
    }
}
