using System.Net.Http.Headers;
using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Credentials;
using FsCheck;
using FsCheck.Xunit;

namespace ActorRefresh.Core.Tests.Credentials;

/// <summary>Hostile input to the credentials file reader (and to Retry-After as it arrives in real headers).</summary>
public sealed class CredentialsFilePropertyTests : IDisposable
{
    private const string Access = "sk-ant-oat01-SECRETACCESSxyz";
    private const string Refresh = "sk-ant-ort01-SECRETREFRESHxyz";
    private static readonly string Valid =
        "{\"claudeAiOauth\":{\"accessToken\":\"" + Access + "\",\"refreshToken\":\"" + Refresh +
        "\",\"expiresAt\":1900000000000,\"scopes\":[\"user:inference\"],\"subscriptionType\":\"max\"},\"other\":{\"keep\":true}}";

    private static readonly string[] Replacements =
    [
        "null", "0", "-1", "1e400", "\"\"", "[]", "{}", "true", "\"x\"", "[\"a\",1]", "{\"a\":{\"b\":[]}}", "18446744073709551616",
        "\"1900000000000\"", "1.5", "\"\\u0000\"", "\"\\ud800\"", new string('[', 5000), "\"" + new string('a', 100_000) + "\"",
    ];

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("actorrefresh-credprop-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Property(MaxTest = 1500)]
    public bool Parsing_a_mangled_file_gives_credentials_or_a_clean_refusal(int field, int replacement, int cut, char inserted, int insertAt, bool bom)
    {
        var json = Valid;
        string[] targets = [$"\"{Access}\"", $"\"{Refresh}\"", "1900000000000", "[\"user:inference\"]", "\"max\"", "{\"keep\":true}"];
        json = json.Replace(targets[Math.Abs(field % targets.Length)], Replacements[Math.Abs(replacement % Replacements.Length)], StringComparison.Ordinal);
        if (cut % 4 == 1) json = json[..(Math.Abs(cut) % json.Length)];
        if (insertAt % 3 == 1) json = json.Insert(Math.Abs(insertAt) % (json.Length + 1), inserted.ToString());
        if (bom) json = "\uFEFF" + json;
        try
        {
            var credentials = ClaudeCredentialsFile.Parse(json, "upload");
            return credentials.RefreshToken?.Reveal().Length != 0 && credentials.ToString()!.Contains("SECRET", StringComparison.Ordinal) == false;
        }
        catch (CredentialsFileException e)
        {
            // The refusal names the source and the fault, never a token.
            return e.Message.StartsWith("Credentials file 'upload'", StringComparison.Ordinal) && !e.Message.Contains("SECRET", StringComparison.Ordinal);
        }
    }

    [Property(MaxTest = 100)]
    public bool Reading_refuses_exactly_links_and_files_group_or_others_may_access(byte bits, bool symlink)
    {
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | (UnixFileMode)(bits & 0b111_111); // any group/other bits
        var file = Path.Combine(_dir.FullName, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(file, Valid);
        File.SetUnixFileMode(file, mode);
        var path = file;
        if (symlink)
        {
            path = file + ".link";
            File.CreateSymbolicLink(path, file);
        }
        var shared = (mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0;
        try
        {
            ClaudeCredentialsFile.Read(path);
            return !symlink && !shared;
        }
        catch (CredentialsFileException e)
        {
            return (symlink || shared) && !e.Message.Contains("SECRET", StringComparison.Ordinal);
        }
    }

    [Property(MaxTest = 1000)]
    public bool Retry_after_from_any_raw_header_values_never_throws_and_stays_within_limits(string? retryAfter, string? retryAfterMs)
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.TooManyRequests);
        if (retryAfter is not null) response.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
        if (retryAfterMs is not null) response.Headers.TryAddWithoutValidation("retry-after-ms", retryAfterMs);
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var at = RetryAfter.FromResponse(response, now, RetryAfterLimits.Default);
        return at is null || (at >= now + RetryAfterLimits.Default.Min && at <= now + RetryAfterLimits.Default.Max);
    }
}
