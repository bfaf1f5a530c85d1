using System.Text.RegularExpressions;

namespace ActorRefresh.Host.Api;

/// <summary>The account id rule shared by the API and the CLI.</summary>
internal static partial class AccountIds
{
    public const string Rule = "An account id is 1-128 characters of letters, digits, '.', '_', '-' and '@'.";

    [GeneratedRegex(@"^[A-Za-z0-9._@\-]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    /// <exception cref="BadRequestBodyException">The id breaks the rule.</exception>
    public static string Require(string? id) => IsValid(id) ? id! : throw new BadRequestBodyException(Rule);
}
