using System.Text;
using System.Text.Json;

namespace ActorRefresh.Core.Tokens;

/// <summary>
/// Removes token text from strings that end up in outcomes, logs and exceptions. Belt and braces:
/// known secrets are replaced verbatim, and anything shaped like a Claude token (<c>sk-ant-…</c>) or a JWT
/// (<c>eyJ…</c>) is replaced too, because a body may echo a token we never saw.
/// </summary>
internal static class TokenScrubber
{
    internal const string Redacted = "[redacted]";

    /// <summary>Replaces every secret and every token-shaped run in <paramref name="text"/>.</summary>
    public static string Scrub(string text, IEnumerable<string?> secrets)
    {
        if (string.IsNullOrEmpty(text)) return text;
        foreach (var secret in secrets)
        {
            // Very short "secrets" would shred ordinary words; real tokens are long.
            if (secret is { Length: >= 8 })
                text = text.Replace(secret, Redacted, StringComparison.Ordinal);
        }
        return ScrubShapes(text);
    }

    /// <summary>Collects the values of every property whose name mentions "token" (access_token, refreshToken, id_token, …).</summary>
    public static void CollectTokenValues(JsonElement element, List<string> into)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Value.ValueKind == JsonValueKind.String
                        && property.Name.Contains("token", StringComparison.OrdinalIgnoreCase)
                        && property.Value.GetString() is { Length: > 0 } value)
                        into.Add(value);
                    else
                        CollectTokenValues(property.Value, into);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                    CollectTokenValues(item, into);
                break;
        }
    }

    private static string ScrubShapes(string text)
    {
        if (!text.Contains("sk-ant-", StringComparison.Ordinal) && !text.Contains("eyJ", StringComparison.Ordinal))
            return text;
        var sb = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var span = text.AsSpan(i);
            if ((span.StartsWith("sk-ant-", StringComparison.Ordinal) || span.StartsWith("eyJ", StringComparison.Ordinal))
                && (i == 0 || !IsTokenChar(text[i - 1])))
            {
                var end = i;
                while (end < text.Length && IsTokenChar(text[end])) end++;
                if (end - i >= 16)
                {
                    sb.Append(Redacted);
                    i = end;
                    continue;
                }
            }
            sb.Append(text[i]);
            i++;
        }
        return sb.ToString();
    }

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' or '+' or '/' or '=';

    /// <summary>Collapses control characters and runs of white space, then truncates to <paramref name="max"/> characters.</summary>
    public static string Tidy(string text, int max)
    {
        var sb = new StringBuilder(Math.Min(text.Length, max + 1));
        var lastSpace = true;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                if (!lastSpace) sb.Append(' ');
                lastSpace = true;
            }
            else
            {
                sb.Append(c);
                lastSpace = false;
            }
            if (sb.Length > max) break;
        }
        var result = sb.ToString().TrimEnd();
        return result.Length <= max ? result : string.Concat(result.AsSpan(0, max - 1), "…");
    }
}
