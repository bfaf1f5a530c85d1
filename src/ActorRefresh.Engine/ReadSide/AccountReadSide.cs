using System.Collections.Concurrent;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.ReadSide;

/// <summary>
/// The lock-free read side of the accounts on this node. Each account actor is the only writer of its
/// entries: it publishes its fresh token (with the instant it stops being fresh) and its status.
/// Token callers look here first, so a valid token costs one dictionary lookup and no actor round trip.
/// </summary>
internal sealed class AccountReadSide
{
    private readonly ConcurrentDictionary<string, FreshToken> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccountStatus> _statuses = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccountRefusal> _refusals = new(StringComparer.Ordinal);
    // The last token each account published, kept after it stops being fresh: the fallback while the account's actor
    // is down (store outage). Dropped when the account is blocked, removed, or the token is reported rejected.
    private readonly ConcurrentDictionary<string, AccessToken> _lastPublished = new(StringComparer.Ordinal);
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

    /// <summary>
    /// Fallback for when the account's actor cannot answer (its store is down and it is restarting): the last token it
    /// published, if it stays valid at least <paramref name="minimumValidity"/> — what the account itself would serve while
    /// backing off. Never a token of a blocked or removed account, nor one reported rejected.
    /// </summary>
    public bool TryGetStillValidToken(string accountId, TimeSpan minimumValidity, out AccessToken token)
    {
        // Only while the account's last published status still names this token (same expiry) and it is not blocked:
        // credentials replaced without an access token, a block or a removal end the fallback. In cluster mode the replica
        // keeps the fallback in step with the account's withdrawals instead (the status lives only where the account runs,
        // and not while its actor is down).
        if (_lastPublished.TryGetValue(accountId, out var last) && _time.GetUtcNow() < last.ExpiresAt - minimumValidity
            && (FallbackGate is not { } gate || gate())
            && (FallbackFollowsReplica || (_statuses.TryGetValue(accountId, out var status) && status.State != AccountState.PolicyBlocked
                && status.AccessTokenExpiresAt == last.ExpiresAt)))
        {
            token = last;
            return true;
        }
        token = null!;
        return false;
    }

    /// <summary>Forgets the fallback token when it is the one with this fingerprint (the API refused it).</summary>
    public void DropRejected(string accountId, string fingerprint)
    {
        if (_lastPublished.TryGetValue(accountId, out var last) && last.Value.Fingerprint == fingerprint)
            _lastPublished.TryRemove(new KeyValuePair<string, AccessToken>(accountId, last));
    }

    /// <summary>
    /// Raised on the publishing account's thread when an account publishes an access token other than the one it had
    /// here (on every node that serves the account's tokens). Handlers must be quick and must not throw: hand the work
    /// to a queue.
    /// </summary>
    internal event Action<string, AccessToken>? NewTokenPublished;

    internal void PublishToken(string accountId, AccessToken token, DateTimeOffset freshUntil)
    {
        var previous = _tokens.TryGetValue(accountId, out var before) ? before.Token : null;
        _tokens[accountId] = new FreshToken(token, freshUntil.UtcTicks);
        _lastPublished[accountId] = token;
        if (previous is null || !previous.Value.Equals(token.Value)) NewTokenPublished?.Invoke(accountId, token);
    }

    internal void WithdrawToken(string accountId) => _tokens.TryRemove(accountId, out _);

    /// <summary>Cluster mode: the node's replica keeps the fallback tokens in step with the accounts (see <see cref="KeepFallbackIf"/>).</summary>
    internal bool FallbackFollowsReplica { get; set; }

    /// <summary>
    /// Cluster mode: the fallback is served only while this holds (the node hears a majority of the cluster). A node woken
    /// from a pause cannot reach its accounts' actors, and its fallback may name a token the accounts have replaced since.
    /// </summary>
    internal Func<bool>? FallbackGate { get; set; }

    /// <summary>
    /// Keeps the account's fallback token only if it is the one the account still holds (same expiry); drops it otherwise
    /// (null: the account may serve none). Returns whether a fallback is kept.
    /// </summary>
    internal bool KeepFallbackIf(string accountId, DateTimeOffset? stillHeldExpiresAt)
    {
        if (!_lastPublished.TryGetValue(accountId, out var last)) return false;
        if (stillHeldExpiresAt is { } expires && last.ExpiresAt == expires) return true;
        _lastPublished.TryRemove(new KeyValuePair<string, AccessToken>(accountId, last));
        return false;
    }

    /// <summary>Drops the fresh token and the fallback token, keeping the status (the account is not hosted here, or was removed).</summary>
    internal void ForgetToken(string accountId)
    {
        _tokens.TryRemove(accountId, out _);
        _lastPublished.TryRemove(accountId, out _);
    }

    /// <summary>Ids of the accounts whose token is fresh now (diagnostics: ids only, never a token).</summary>
    internal IReadOnlyList<string> FreshTokenIds()
    {
        var now = _time.GetUtcNow().UtcTicks;
        return _tokens.Where(kv => now < kv.Value.FreshUntilTicks).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Accounts with a fresh token and accounts with a fallback token, for diagnostics and tests.</summary>
    internal (int Fresh, int Fallback) TokenCounts => (_tokens.Count, _lastPublished.Count);

    /// <summary>
    /// Raised on the account's thread after it publishes a status here, with the status it had before (null for the
    /// first since this node started serving it). Handlers must be quick and must not throw: hand the work to a queue.
    /// </summary>
    internal event Action<AccountStatus?, AccountStatus>? StatusPublished;

    internal void PublishStatus(AccountStatus status)
    {
        var previous = _statuses.TryGetValue(status.AccountId, out var before) ? before : null;
        _statuses[status.AccountId] = status;
        StatusPublished?.Invoke(previous, status);
        if (status.State == AccountState.PolicyBlocked) _lastPublished.TryRemove(status.AccountId, out _);
    }

    internal void ForgetStatus(string accountId)
    {
        _statuses.TryRemove(accountId, out _);
        _refusals.TryRemove(accountId, out _);
    }

    internal void Forget(string accountId)
    {
        _tokens.TryRemove(accountId, out _);
        _lastPublished.TryRemove(accountId, out _);
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
