using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Pools;

/// <summary>How a pool chooses among its usable accounts.</summary>
public enum PoolStrategy
{
    /// <summary>The first usable account in the pool's order (fallback in order). Configuration: <c>priority</c>.</summary>
    Priority,
    /// <summary>Usable accounts in turn. Configuration: <c>round-robin</c>.</summary>
    RoundRobin,
    /// <summary>The usable account with the lowest utilisation; ties go to the earlier one. Configuration: <c>least-utilised</c>.</summary>
    LeastUtilised,
}

/// <summary>Names of <see cref="PoolStrategy"/> as configuration spells them.</summary>
public static class PoolStrategies
{
    /// <summary>Parses <c>priority</c>, <c>round-robin</c> or <c>least-utilised</c> (case-insensitive; <c>roundrobin</c>,
    /// <c>least-utilized</c> and the enum names are accepted too).</summary>
    public static bool TryParse(string? text, out PoolStrategy strategy)
    {
        strategy = PoolStrategy.Priority;
        var key = (text ?? "").Trim().Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();
        switch (key)
        {
            case "" or "priority":
                return true;
            case "roundrobin":
                strategy = PoolStrategy.RoundRobin;
                return true;
            case "leastutilised" or "leastutilized":
                strategy = PoolStrategy.LeastUtilised;
                return true;
            default:
                return false;
        }
    }

    /// <summary>The configuration spelling of <paramref name="strategy"/>.</summary>
    public static string Name(PoolStrategy strategy) => strategy switch
    {
        PoolStrategy.RoundRobin => "round-robin",
        PoolStrategy.LeastUtilised => "least-utilised",
        _ => "priority",
    };
}

/// <summary>
/// A named group of accounts that callers lease from. Defined in configuration
/// (<c>ActorRefresh:Pools:&lt;name&gt;</c> with <c>Accounts</c>, <c>Strategy</c>, <c>MaxUtilisation</c>) or at run time.
/// </summary>
/// <param name="Name">The pool name (same rule as account ids).</param>
/// <param name="Accounts">Member account ids in priority order (no duplicates).</param>
/// <param name="Strategy">How a usable account is chosen.</param>
/// <param name="MaxUtilisation">An account at or above this utilisation (0–100) is not leased.</param>
public sealed record PoolDefinition(string Name, IReadOnlyList<string> Accounts, PoolStrategy Strategy = PoolStrategy.Priority, double MaxUtilisation = PoolDefinition.DefaultMaxUtilisation)
{
    /// <summary>Default of <see cref="MaxUtilisation"/>.</summary>
    public const double DefaultMaxUtilisation = 90;

    /// <summary>Returns the problems with this definition, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var prefix = $"{AccountPools.Section}:{Name}";
        var errors = new List<string>();
        if (!AccountIdRules.IsValid(Name))
            errors.Add($"{prefix}: a pool name is 1-128 characters of letters, digits, '.', '_', '-' and '@'.");
        if (Accounts is null || Accounts.Count == 0)
            errors.Add($"{prefix}:Accounts must list at least one account id.");
        else
        {
            foreach (var id in Accounts.Where(id => !AccountIdRules.IsValid(id)))
                errors.Add($"{prefix}:Accounts: '{id}' is not a valid account id ({AccountIdRules.Description}).");
            foreach (var id in Accounts.Where(AccountIdRules.IsValid).GroupBy(id => id, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key))
                errors.Add($"{prefix}:Accounts lists '{id}' more than once.");
        }
        if (double.IsNaN(MaxUtilisation) || MaxUtilisation <= 0 || MaxUtilisation > 100)
            errors.Add($"{prefix}:MaxUtilisation must be above 0 and at most 100.");
        return errors;
    }

    /// <summary>Prints the members as a list.</summary>
    public override string ToString() =>
        $"PoolDefinition {{ Name = {Name}, Accounts = [{string.Join(", ", Accounts ?? [])}], Strategy = {PoolStrategies.Name(Strategy)}, MaxUtilisation = {MaxUtilisation} }}";
}

/// <summary>A leased account: its id and a valid access token.</summary>
/// <param name="AccountId">The chosen account.</param>
/// <param name="Token">Its access token (the token's <c>ToString</c> shows a fingerprint only).</param>
public sealed record AccountLease(string AccountId, AccessToken Token)
{
    /// <summary>When the access token expires.</summary>
    public DateTimeOffset ExpiresAt => Token.ExpiresAt;
}

/// <summary>One member of a pool as a lease sees it now.</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="State">Its state, or null when it is not registered (on this node).</param>
/// <param name="Utilisation">Highest utilisation of a window that has not reset, 0–100 (0 when unknown).</param>
/// <param name="Usable">True when a lease may choose it now.</param>
/// <param name="UsableAt">When an unusable member becomes usable, when known (cooldown end, quota reset, end of backoff).</param>
/// <param name="Reason">Why it is not usable (null when usable).</param>
/// <param name="Usage">What is known of its quota.</param>
public sealed record PoolMember(string AccountId, AccountState? State, double Utilisation, bool Usable, DateTimeOffset? UsableAt, string? Reason, AccountUsage? Usage);

/// <summary>A pool and its members, for operators (never a token).</summary>
/// <param name="Name">The pool name.</param>
/// <param name="Strategy">Its strategy.</param>
/// <param name="MaxUtilisation">Its utilisation threshold.</param>
/// <param name="Members">The members in the pool's order.</param>
/// <param name="NextUsableAt">With no usable member: the earliest time one becomes usable, when known.</param>
public sealed record PoolStatus(string Name, PoolStrategy Strategy, double MaxUtilisation, IReadOnlyList<PoolMember> Members, DateTimeOffset? NextUsableAt)
{
    /// <summary>Number of members a lease may choose now.</summary>
    public int UsableCount => Members.Count(m => m.Usable);
}
