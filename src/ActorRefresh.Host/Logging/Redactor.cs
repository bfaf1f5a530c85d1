using System.Text.RegularExpressions;

namespace ActorRefresh.Host.Logging;

/// <summary>Replaces anything shaped like a token with <see cref="Placeholder"/>.</summary>
/// <remarks>
/// Last line of defence: code should log <see cref="ActorRefresh.Core.Tokens.Secret"/> (which prints a
/// fingerprint), but a careless interpolation of a raw string must not leak either.
/// </remarks>
internal static partial class Redactor
{
    public const string Placeholder = "[redacted]";

    // Anthropic keys and OAuth tokens (sk-ant-oat01-…, sk-ant-ort01-…, sk-ant-api03-…), any
    // "Bearer <credential>" (header values, curl lines), and JWT-like strings (base64url JSON headers start with eyJ).
    [GeneratedRegex(@"sk-ant-[a-z]{3}\d{2}-[A-Za-z0-9_\-]+|Bearer\s+[^\s""',;]+|eyJ[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*){0,2}",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex TokenShapes();

    // A property whose name says it holds a credential is hidden whatever its value looks like:
    // opaque refresh tokens of generic providers have no recognisable shape.
    [GeneratedRegex(@"(token|secret|password|apikey|api_key|authorization)$",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex SecretNames();

    [GeneratedRegex(@"bearer\s*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex EndsWithBearer();

    // What SecretDestructuringPolicy and Secret.ToString produce: safe by construction.
    [GeneratedRegex(@"^secret:[0-9a-f]{16}$", RegexOptions.CultureInvariant)]
    private static partial Regex Fingerprint();

    public static bool IsFingerprint(string text) => Fingerprint().IsMatch(text);

    public static bool ContainsToken(string text) => TokenShapes().IsMatch(text);

    public static string Redact(string text) =>
        string.IsNullOrEmpty(text) ? text : TokenShapes().Replace(text, Placeholder);

    public static bool IsSecretName(string name) => SecretNames().IsMatch(name);

    public static bool EndsWithBearerWord(string text) => EndsWithBearer().IsMatch(text);
}
