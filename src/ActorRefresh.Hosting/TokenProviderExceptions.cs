namespace ActorRefresh.Hosting;

/// <summary>Base of the typed failures of <see cref="ITokenProvider"/>. Messages never contain a token.</summary>
public abstract class ActorRefreshException : Exception
{
    /// <summary>Creates the exception for <paramref name="accountId"/>.</summary>
    protected ActorRefreshException(string accountId, string message, Exception? inner = null) : base(message, inner)
        => AccountId = accountId;

    /// <summary>The account the failure is about.</summary>
    public string AccountId { get; }
}

/// <summary>No valid token, and refreshes are paused until <see cref="RetryAt"/>.</summary>
public sealed class TokenBackingOffException(string accountId, DateTimeOffset retryAt, string reason)
    : ActorRefreshException(accountId, $"Account '{accountId}' is backing off until {retryAt:O}: {reason}")
{
    /// <summary>When the next refresh attempt is allowed.</summary>
    public DateTimeOffset RetryAt { get; } = retryAt;

    /// <summary>Why (the last failure).</summary>
    public string Reason { get; } = reason;
}

/// <summary>The account is blocked: organisation policy, a dead grant, or an operator's block.</summary>
public sealed class AccountBlockedException(string accountId, string reason)
    : ActorRefreshException(accountId, $"Account '{accountId}' is blocked: {reason}")
{
    /// <summary>Why it is blocked.</summary>
    public string Reason { get; } = reason;
}

/// <summary>No account with that id is registered.</summary>
public sealed class AccountNotFoundException(string accountId)
    : ActorRefreshException(accountId, $"Account '{accountId}' is not registered.");

/// <summary>A command was refused as invalid (bad id, unknown provider, empty token, duplicate id).</summary>
public sealed class InvalidAccountCommandException(string accountId, string reason)
    : ActorRefreshException(accountId, reason)
{
    /// <summary>Why the command was refused.</summary>
    public string Reason { get; } = reason;
}

/// <summary>The engine could not answer in time or its store is unavailable.</summary>
public sealed class EngineUnavailableException(string accountId, string reason, Exception? inner = null)
    : ActorRefreshException(accountId, $"Account '{accountId}': {reason}", inner);

/// <summary>No pool with that name is defined.</summary>
public sealed class PoolNotFoundException(string pool)
    : Exception($"Pool '{pool}' is not defined.")
{
    /// <summary>The pool name asked for.</summary>
    public string Pool { get; } = pool;
}

/// <summary>
/// No account of the pool is usable now (every member is blocked, over its utilisation threshold, in API cooldown,
/// backing off without a valid token, or not registered). <see cref="RetryAt"/> is the earliest time one becomes usable,
/// when known (an HTTP layer answers 503 with it as Retry-After).
/// </summary>
public sealed class NoUsableAccountException(string pool, DateTimeOffset? retryAt, string reason)
    : Exception($"Pool '{pool}': {reason}")
{
    /// <summary>The pool.</summary>
    public string Pool { get; } = pool;

    /// <summary>The earliest time a member becomes usable, when known.</summary>
    public DateTimeOffset? RetryAt { get; } = retryAt;

    /// <summary>Why (no token inside).</summary>
    public string Reason { get; } = reason;
}
