using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Host.Api;

/// <summary>The engine's account id rule, as the API and the CLI enforce it.</summary>
internal static class AccountIds
{
    public const string Rule = "An account id is 1-128 characters of letters, digits, '.', '_', '-' and '@'.";

    public static bool IsValid(string? id) => AccountIdRules.IsValid(id);

    /// <exception cref="BadRequestBodyException">The id breaks the rule.</exception>
    public static string Require(string? id) => IsValid(id) ? id! : throw new BadRequestBodyException(Rule);
}
