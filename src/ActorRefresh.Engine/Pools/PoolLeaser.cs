using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Pools;

/// <summary>Why a lease found no account.</summary>
internal enum LeaseFailure
{
    None,
    PoolNotFound,
    NoneUsable,
}

/// <summary>A lease or why there is none.</summary>
internal sealed record LeaseResult(AccountLease? Lease, LeaseFailure Failure, DateTimeOffset? EarliestUsableAt = null, string? Reason = null);

/// <summary>
/// Chooses an account of a pool from the node's read side: one pass over the members (O(accounts in pool)), no actor
/// round trip when the chosen account has a fresh token published. Only when the chosen account has none does it ask
/// that one account (<c>viaAccount</c>): a still-valid token of a backing-off account is served without a refresh, and a
/// token past its refresh point is refreshed, once, by the account's normal deduplicated path. Accounts with a token
/// ready are always preferred over accounts that would need a refresh.
/// </summary>
internal sealed class PoolLeaser(AccountPools pools, EngineServices services)
{
    private readonly EngineOptions _options = services.Options;

    private enum Readiness
    {
        Unusable,
        Ready,
        NeedsAccount,
    }

    private readonly record struct Candidate(string AccountId, AccessToken? Token, double Utilisation);

    /// <summary>Leases an account of <paramref name="pool"/>.</summary>
    /// <param name="pool">The pool name.</param>
    /// <param name="viaAccount">Asks one account for a token; null when it turned out not usable (backing off, blocked, gone).</param>
    /// <param name="cancellationToken">Abandons the caller's wait only.</param>
    public ValueTask<LeaseResult> LeaseAsync(string pool, Func<string, CancellationToken, ValueTask<AccessToken?>> viaAccount, CancellationToken cancellationToken)
    {
        var started = services.Time.GetUtcNow();
        if (pool is null || !pools.TryGetEntry(pool, out var entry))
        {
            services.Metrics.Lease("pool_not_found", pool, null, started, services.Time.GetUtcNow());
            return ValueTask.FromResult(new LeaseResult(null, LeaseFailure.PoolNotFound, Reason: $"no pool named '{pool}'"));
        }
        var definition = entry.Definition;
        var now = started;
        var ready = new List<Candidate>(definition.Accounts.Count);
        List<Candidate>? later = null;
        DateTimeOffset? earliest = null;
        foreach (var id in definition.Accounts)
        {
            var member = Evaluate(id, definition.MaxUtilisation, now, out var readiness, out var token);
            switch (readiness)
            {
                case Readiness.Ready:
                    ready.Add(new Candidate(id, token, member.Utilisation));
                    break;
                case Readiness.NeedsAccount:
                    (later ??= []).Add(new Candidate(id, null, member.Utilisation));
                    break;
                default:
                    if (member.UsableAt is { } at && (earliest is null || at < earliest)) earliest = at;
                    break;
            }
        }

        var tier = ready.Count > 0 ? ready : later;
        if (tier is null || tier.Count == 0)
            return ValueTask.FromResult(NoneUsable(definition, earliest, started));

        var order = Order(tier, definition.Strategy, entry);
        var first = tier[order[0]];
        if (first.Token is { } fresh)
        {
            services.Metrics.Lease("leased", pool, first.AccountId, started, services.Time.GetUtcNow());
            return ValueTask.FromResult(new LeaseResult(new AccountLease(first.AccountId, fresh), LeaseFailure.None));
        }
        return SlowAsync(definition, tier, order, earliest, started, viaAccount, cancellationToken);
    }

    private async ValueTask<LeaseResult> SlowAsync(
        PoolDefinition definition, List<Candidate> tier, int[] order, DateTimeOffset? earliest, DateTimeOffset started,
        Func<string, CancellationToken, ValueTask<AccessToken?>> viaAccount, CancellationToken cancellationToken)
    {
        foreach (var index in order)
        {
            var candidate = tier[index];
            var token = candidate.Token ?? await viaAccount(candidate.AccountId, cancellationToken).ConfigureAwait(false);
            if (token is null) continue;
            services.Metrics.Lease(candidate.Token is null ? "leased_via_account" : "leased", definition.Name, candidate.AccountId,
                started, services.Time.GetUtcNow());
            return new LeaseResult(new AccountLease(candidate.AccountId, token), LeaseFailure.None);
        }
        return NoneUsable(definition, earliest, started);
    }

    private LeaseResult NoneUsable(PoolDefinition definition, DateTimeOffset? earliest, DateTimeOffset started)
    {
        services.Metrics.Lease("none_usable", definition.Name, null, started, services.Time.GetUtcNow());
        var reason = earliest is { } at
            ? $"no usable account in pool '{definition.Name}' before {at:O}"
            : $"no usable account in pool '{definition.Name}'";
        return new LeaseResult(null, LeaseFailure.NoneUsable, earliest, reason);
    }

    /// <summary>Indexes of <paramref name="tier"/> in the order to try them: the strategy's choice first.</summary>
    private static int[] Order(List<Candidate> tier, PoolStrategy strategy, AccountPools.Entry entry)
    {
        var n = tier.Count;
        var order = new int[n];
        var start = 0;
        switch (strategy)
        {
            case PoolStrategy.RoundRobin:
                start = entry.NextTurn() % n;
                for (var i = 0; i < n; i++) order[i] = (start + i) % n;
                return order;
            case PoolStrategy.LeastUtilised:
                for (var i = 1; i < n; i++)
                {
                    if (tier[i].Utilisation < tier[start].Utilisation) start = i;
                }
                order[0] = start;
                for (int i = 0, k = 1; i < n; i++)
                {
                    if (i != start) order[k++] = i;
                }
                return order;
            default:
                for (var i = 0; i < n; i++) order[i] = i;
                return order;
        }
    }

    /// <summary>The pool and its members as a lease sees them now; null when there is no such pool.</summary>
    public PoolStatus? Describe(string pool)
    {
        if (pool is null || !pools.TryGet(pool, out var definition)) return null;
        var now = services.Time.GetUtcNow();
        var members = definition.Accounts.Select(id => Evaluate(id, definition.MaxUtilisation, now, out _, out _)).ToList();
        DateTimeOffset? next = null;
        if (!members.Any(m => m.Usable))
            next = members.Where(m => m.UsableAt is not null).Select(m => m.UsableAt).Min();
        return new PoolStatus(definition.Name, definition.Strategy, definition.MaxUtilisation, members, next);
    }

    /// <summary>One member's usability from the read side (status, published quota and fresh token).</summary>
    private PoolMember Evaluate(string accountId, double maxUtilisation, DateTimeOffset now, out Readiness readiness, out AccessToken? token)
    {
        token = null;
        readiness = Readiness.Unusable;
        var readSide = services.ReadSide;
        if (!readSide.TryGetStatus(accountId, out var status))
            return new PoolMember(accountId, null, 0, false, null, "not registered", null);
        var usage = status.Usage;
        var utilisation = usage?.UtilisationAt(now) ?? 0;
        if (status.State == AccountState.PolicyBlocked)
            return new PoolMember(accountId, status.State, utilisation, false, null, "blocked: " + (status.LastError ?? status.LastErrorClass ?? "blocked"), usage);

        var reasons = new List<string>(0);
        DateTimeOffset? usableAt = null;
        var unknownEnd = false;
        void Until(DateTimeOffset? at, string why)
        {
            reasons.Add(why);
            if (at is null) unknownEnd = true;
            else if (usableAt is null || at > usableAt) usableAt = at;
        }

        if (usage?.ApiCooldownUntil is { } cooldown && cooldown > now)
            Until(cooldown, $"API cooldown until {cooldown:O}");
        if (usage is not null && utilisation >= maxUtilisation)
        {
            var below = usage.BelowThresholdAt(maxUtilisation, now, out _);
            Until(below, $"utilisation {utilisation:0.#}% at or above {maxUtilisation:0.#}%");
        }

        Readiness tokenReadiness;
        if (readSide.TryGetFreshToken(accountId, out var fresh))
        {
            token = fresh;
            tokenReadiness = Readiness.Ready;
        }
        else if (status.State == AccountState.BackingOff)
        {
            // A still-valid token is served by the account without a refresh; without one, nothing until the retry.
            if (status.AccessTokenExpiresAt is { } expiresAt && now < expiresAt - _options.MinimumValidity)
                tokenReadiness = Readiness.Ready;
            else
            {
                tokenReadiness = Readiness.Unusable;
                Until(status.RetryAt, $"backing off: {status.LastError ?? status.LastErrorClass}");
            }
        }
        else
        {
            // Valid past its refresh point, or refreshing: the account refreshes (once) when chosen.
            tokenReadiness = Readiness.NeedsAccount;
        }

        if (reasons.Count > 0)
        {
            token = null;
            return new PoolMember(accountId, status.State, utilisation, false, unknownEnd ? null : usableAt, string.Join("; ", reasons), usage);
        }
        readiness = tokenReadiness;
        return new PoolMember(accountId, status.State, utilisation, true, null, null, usage);
    }
}
