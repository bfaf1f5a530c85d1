using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Tokens;
using System.Text.Json.Serialization;
using ActorRefresh.Engine.Persistence;

namespace ActorRefresh.Engine.Accounts;

/// <summary>What <see cref="AccountData.DecideToken"/> says to do with a token request.</summary>
internal enum TokenDecision
{
    NotRegistered,
    Blocked,
    Serve,
    BackOff,
    Refresh,
}

/// <summary>
/// The immutable, journaled state of one account, with the pure rules that drive it: <see cref="Apply"/>
/// folds an event in; the <c>Decide*</c> methods turn requests and outcomes into decisions and events.
/// The actor only executes what these say, so the rules are tested without an actor system.
/// </summary>
internal sealed record AccountData : IAccountPersisted
{
    public required string AccountId { get; init; }
    public string? Provider { get; init; }
    public Secret? RefreshToken { get; init; }
    public Secret? AccessToken { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? CredentialsFile { get; init; }

    /// <summary>Set while blocked: the class of the block (policy_refused, grant_rejected, operator).</summary>
    public string? BlockClass { get; init; }

    /// <summary>Set while backing off: no upstream call before it.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>True when the backoff came from a 429: it is about the account and survives new credentials.</summary>
    public bool RetryIsRateLimit { get; init; }

    /// <summary>Consecutive failed attempts (drives the exponential backoff).</summary>
    public int Attempt { get; init; }

    public string? LastErrorClass { get; init; }
    public string? LastError { get; init; }

    /// <summary>
    /// Fingerprint of the refresh token a journaled intent was about to spend, until its outcome is journaled.
    /// Found set after recovery, it means a refresh was interrupted and the token may be consumed.
    /// </summary>
    public string? InFlightRefresh { get; init; }

    public AccountCounters Counters { get; init; } = AccountCounters.Zero;

    [JsonIgnore]
    public bool IsRegistered => Provider is not null;
    [JsonIgnore]
    public bool IsBlocked => BlockClass is not null;

    public static AccountData Empty(string accountId) => new() { AccountId = accountId };

    /// <summary>The journaled state (Refreshing is the actor's in-memory mode, layered on top).</summary>
    [JsonIgnore]
    public AccountState State =>
        IsBlocked ? AccountState.PolicyBlocked
        : RetryAt is not null ? AccountState.BackingOff
        : AccountState.Valid;

    /// <summary>When the access token stops being handed out (expiry minus the lead); null without a token.</summary>
    public DateTimeOffset? RefreshPoint(TimeSpan lead) => ExpiresAt - lead;

    public AccountData Apply(IAccountEvent e) => e switch
    {
        AccountRegistered r => Empty(AccountId) with
        {
            Provider = r.Provider,
            RefreshToken = r.RefreshToken,
            AccessToken = r.AccessToken,
            ExpiresAt = r.AccessToken is null ? null : r.ExpiresAt,
            CredentialsFile = r.CredentialsFile,
        },
        RefreshStarted s => this with { InFlightRefresh = s.RefreshTokenFingerprint },
        TokensRefreshed t => this with
        {
            AccessToken = t.AccessToken,
            ExpiresAt = t.ExpiresAt,
            RefreshToken = t.RefreshToken ?? RefreshToken,
            InFlightRefresh = null,
            RetryAt = null,
            RetryIsRateLimit = false,
            Attempt = 0,
            Counters = Counters with { Refreshes = Counters.Refreshes + 1 },
        },
        RefreshFailed f => this with
        {
            InFlightRefresh = null,
            RetryAt = f.RetryAt,
            RetryIsRateLimit = f.RateLimit,
            Attempt = Attempt + 1,
            LastErrorClass = f.ErrorClass,
            LastError = f.Message,
            Counters = Counters with
            {
                Failures = Counters.Failures + 1,
                RateLimited = Counters.RateLimited + (f.RateLimit ? 1 : 0),
            },
        },
        AccountBlocked b => this with
        {
            InFlightRefresh = null,
            BlockClass = b.ErrorClass,
            RetryAt = null,
            RetryIsRateLimit = false,
            Attempt = 0,
            LastErrorClass = b.ErrorClass,
            LastError = b.Reason,
            Counters = b.ErrorClass == ErrorClasses.Operator ? Counters : Counters with { Failures = Counters.Failures + 1 },
        },
        CredentialsReplaced c => ApplyNewCredentials(c),
        // An unblock lifts a block and a backoff about an old failure, but not a provider's Retry-After whose time has
        // not come: that is about the account, and calling before it would fight the rate limit (as with new credentials).
        AccountUnblocked u when RetryIsRateLimit && RetryAt > u.At => this with { BlockClass = null },
        AccountUnblocked => this with { BlockClass = null, RetryAt = null, RetryIsRateLimit = false, Attempt = 0 },
        AccountRemoved => Empty(AccountId),
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Unknown account event."),
    };

    private AccountData ApplyNewCredentials(CredentialsReplaced c)
    {
        // A dead grant was about the old refresh token: new credentials clear it. An organisation-policy
        // or operator block is about the account and needs an explicit unblock.
        var clearBlock = BlockClass is ErrorClasses.GrantRejected or ErrorClasses.InterruptedRefresh;
        // A 429 whose time has not come is about the account, not the token: keep it.
        var keepBackoff = RetryIsRateLimit && RetryAt > c.At;
        return this with
        {
            RefreshToken = c.RefreshToken,
            AccessToken = c.AccessToken,
            ExpiresAt = c.AccessToken is null ? null : c.ExpiresAt,
            CredentialsFile = c.CredentialsFile ?? CredentialsFile,
            InFlightRefresh = null,
            BlockClass = clearBlock ? null : BlockClass,
            RetryAt = keepBackoff ? RetryAt : null,
            RetryIsRateLimit = keepBackoff,
            Attempt = keepBackoff ? Attempt : 0,
        };
    }

    /// <summary>True when the access token may be handed out without refreshing (before the refresh point).</summary>
    public bool HasFreshToken(DateTimeOffset now, TimeSpan lead) =>
        AccessToken is not null && now < ExpiresAt - lead;

    /// <summary>True when the access token stays valid at least <paramref name="minimumValidity"/> (served while backing off).</summary>
    public bool HasStillValidToken(DateTimeOffset now, TimeSpan minimumValidity) =>
        AccessToken is not null && now < ExpiresAt - minimumValidity;

    public TokenDecision DecideToken(DateTimeOffset now, EngineOptions options)
    {
        if (!IsRegistered) return TokenDecision.NotRegistered;
        if (IsBlocked) return TokenDecision.Blocked;
        if (HasFreshToken(now, options.RefreshLead)) return TokenDecision.Serve;
        if (RetryAt > now)
            return HasStillValidToken(now, options.MinimumValidity) ? TokenDecision.Serve : TokenDecision.BackOff;
        return TokenDecision.Refresh;
    }

    /// <summary>
    /// The event that records <paramref name="outcome"/> of a refresh. <paramref name="interruptedBefore"/> is true when
    /// the refresh token had possibly been spent by an interrupted refresh (a crash after the intent), so a rejection
    /// is reported as that loss rather than as a generic dead grant.
    /// </summary>
    public IAccountEvent DecideOutcome(RefreshOutcome outcome, DateTimeOffset now, BackoffPolicy backoff, bool interruptedBefore) =>
        outcome switch
        {
            RefreshOutcome.Refreshed r => new TokensRefreshed(r.AccessToken, r.ExpiresAt, r.RefreshToken, now),
            RefreshOutcome.RateLimited r => new RefreshFailed(
                ErrorClasses.RateLimited, "rate limited by the token endpoint", backoff.NextAttemptAt(Attempt + 1, now, r.RetryAt), RateLimit: true, now),
            RefreshOutcome.Transient t => new RefreshFailed(
                ErrorClasses.Transient, t.Reason, backoff.NextAttemptAt(Attempt + 1, now, t.RetryAt), RateLimit: false, now),
            RefreshOutcome.Rejected r => new RefreshFailed(
                ErrorClasses.Rejected, $"token endpoint refused the request (HTTP {r.Status}): {r.Message}", backoff.RejectedAttemptAt(now), RateLimit: false, now),
            RefreshOutcome.PolicyRefused p => new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy: " + p.Message, now),
            RefreshOutcome.GrantRejected g when interruptedBefore => new AccountBlocked(
                ErrorClasses.InterruptedRefresh,
                $"refresh token consumed by an interrupted refresh ({g.Error}); new credentials are needed", now),
            RefreshOutcome.GrantRejected g => new AccountBlocked(
                ErrorClasses.GrantRejected, g.Description is null ? g.Error : $"{g.Error}: {g.Description}", now),
            _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome.Kind, "Unknown refresh outcome."),
        };

    /// <summary>The status an operator sees; <paramref name="refreshing"/> is the actor's in-memory mode.</summary>
    public AccountStatus ToStatus(bool refreshing, DateTimeOffset? nextRefreshAt, long version) => new(
        AccountId,
        Provider ?? "",
        refreshing ? AccountState.Refreshing : State,
        AccessToken is null ? null : ExpiresAt,
        State == AccountState.Valid ? nextRefreshAt : null,
        RetryAt,
        LastErrorClass,
        LastError,
        RefreshTokenMaybeSpent: InFlightRefresh is not null && !refreshing,
        Counters,
        version);

    /// <summary>Prints no token: the generated record ToString would.</summary>
    public override string ToString() =>
        $"AccountData {{ AccountId = {AccountId}, Provider = {Provider}, State = {State}, ExpiresAt = {ExpiresAt:O}, RetryAt = {RetryAt:O} }}";
}
