namespace ActorRefresh.Engine.Accounts;

/// <summary>Rules for account ids, shared by the API, the region and the actor.</summary>
public static class AccountIdRules
{
    /// <summary>Longest allowed id.</summary>
    public const int MaxLength = 128;

    /// <summary>Describes the rule, for error messages.</summary>
    public const string Description = "an account id is 1-128 characters of letters, digits, '.', '_', '-' and '@'";

    /// <summary>True when <paramref name="id"/> follows the rule.</summary>
    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength) return false;
        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@')) return false;
        }
        return true;
    }

    /// <summary>The persistence id of the account (prefixed with the entity type).</summary>
    public static string PersistenceId(string accountId) => "account-" + accountId;
}
