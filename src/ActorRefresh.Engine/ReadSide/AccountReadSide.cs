using System.Collections.Concurrent;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.ReadSide;

/// <summary>
/// The lock-free read side of the accounts on this node. Each account actor is the only writer of its
/// entries: it publishes its fresh token (with the instant it stops being fresh) and its status.
/// Token callers look here first, so a valid token costs one dictionary lookup and no actor round trip.
/// </summary>
public sealed class AccountReadSide
{
    private readonly ConcurrentDictionary<string, FreshToken> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccountStatus> _statuses = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccountRefusal> _refusals = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Creates a read side reading the clock from <paramref name="time"/>.</summary>
    public AccountReadSide(TimeProvider time) => _time = time;

    /// <summary>
    /// The account's token if one was published and its refresh point has not passed. Never returns a token
    /// past its refresh point: the check is made against the clock at every call.
    /// </summary>
    public bool TryGetFreshToken(string accountId, out AccessToken token)
    {
        if (_tokens.TryGetValue(accountId, out var fresh) && _time.GetUtcNow().UtcTicks < fresh.FreshUntilTicks)
        {
            token = fresh.Token;
            return true;
        }
        token = null!;
        return false;
    }

    /// <summary>Status of every account this node hosts.</summary>
    public IReadOnlyList<AccountStatus> Statuses() => _statuses.Values.OrderBy(s => s.AccountId, StringComparer.Ordinal).ToList();

    /// <summary>The account's last published status, if this node hosts it.</summary>
    public bool TryGetStatus(string accountId, out AccountStatus status) => _statuses.TryGetValue(accountId, out status!);

    /// <summary>Number of hosted accounts per state.</summary>
    public IReadOnlyDictionary<AccountState, int> CountByState()
    {
        var counts = Enum.GetValues<AccountState>().ToDictionary(s => s, _ => 0);
        foreach (var s in _statuses.Values) counts[s.State]++;
        return counts;
    }

    /// <summary>
    /// The account's refusal when it has no token to give: blocked, or backing off until a time that has not come.
    /// Lets callers get their answer at once, without an actor round trip, for as long as it holds.
    /// </summary>
    public bool TryGetRefusal(string accountId, out AccountRefusal refusal)
    {
        if (_refusals.TryGetValue(accountId, out refusal!)
            && (refusal.Until is not { } until || _time.GetUtcNow() < until))
            return true;
        refusal = null!;
        return false;
    }

    internal void PublishRefusal(string accountId, AccountRefusal refusal) => _refusals[accountId] = refusal;

    internal void WithdrawRefusal(string accountId) => _refusals.TryRemove(accountId, out _);

    internal void PublishToken(string accountId, AccessToken token, DateTimeOffset freshUntil) =>
        _tokens[accountId] = new FreshToken(token, freshUntil.UtcTicks);

    internal void WithdrawToken(string accountId) => _tokens.TryRemove(accountId, out _);

    internal void PublishStatus(AccountStatus status) => _statuses[status.AccountId] = status;

    internal void ForgetStatus(string accountId)
    {
        _statuses.TryRemove(accountId, out _);
        _refusals.TryRemove(accountId, out _);
    }

    internal void Forget(string accountId)
    {
        _tokens.TryRemove(accountId, out _);
        _statuses.TryRemove(accountId, out _);
        _refusals.TryRemove(accountId, out _);
    }

    private sealed record FreshToken(AccessToken Token, long FreshUntilTicks);
}

/// <summary>Why an account has no token to give: blocked (<see cref="Until"/> null) or backing off until <see cref="Until"/>.</summary>
/// <param name="Blocked">True when blocked.</param>
/// <param name="Until">End of the backoff; null when blocked.</param>
/// <param name="Reason">The reason shown to callers.</param>
public sealed record AccountRefusal(bool Blocked, DateTimeOffset? Until, string Reason);
