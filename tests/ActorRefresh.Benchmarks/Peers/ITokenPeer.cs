using System.Collections.Concurrent;
using System.ComponentModel;
using ActorRefresh.Benchmarks.Infra;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Benchmarks.Peers;

/// <summary>
/// One contender: gives a valid access token for an account, refreshing through the shared token endpoint client
/// once the token is within the lead time of its expiry. Every contender applies the same rule on every call: a token
/// is served only before its refresh point (expiry − lead), checked against the clock.
/// </summary>
public interface ITokenPeer : IAsyncDisposable
{
    /// <summary>Short name used in results.</summary>
    string Name { get; }

    /// <summary>Makes the account known with its current pair (what registering it with the engine does).</summary>
    Task AddAsync(string accountId, string refreshToken, string accessToken, DateTimeOffset expiresAt);

    /// <summary>A token fresh at the time of the call.</summary>
    ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default);
}

/// <summary>A refreshed token as the caches keep it: immutable, so HybridCache hands out the same instance.</summary>
[ImmutableObject(true)]
public sealed class CachedToken(Secret accessToken, DateTimeOffset expiresAt, long freshUntilTicks)
{
    /// <summary>The access token.</summary>
    public Secret AccessToken { get; } = accessToken;
    /// <summary>Its expiry.</summary>
    public DateTimeOffset ExpiresAt { get; } = expiresAt;
    /// <summary>The refresh point (expiry − lead), UTC ticks.</summary>
    public long FreshUntilTicks { get; } = freshUntilTicks;

    /// <summary>True before the refresh point.</summary>
    public bool IsFresh(TimeProvider time) => time.GetUtcNow().UtcTicks < FreshUntilTicks;

    /// <summary>Time left until the refresh point.</summary>
    public TimeSpan FreshFor(TimeProvider time) => TimeSpan.FromTicks(FreshUntilTicks - time.GetUtcNow().UtcTicks);
}

/// <summary>A refresh that did not produce a token (the caller's answer is this exception).</summary>
public sealed class PeerRefreshException(string kind, DateTimeOffset? retryAt) : Exception($"refresh failed: {kind}")
{
    /// <summary>Outcome kind.</summary>
    public string Kind { get; } = kind;
    /// <summary>Retry-After, if the provider sent one.</summary>
    public DateTimeOffset? RetryAt { get; } = retryAt;
}

/// <summary>What the hand-written and library peers share: the stored refresh tokens and the one refresh call.</summary>
public abstract class CachePeerBase(Upstream upstream, TimeSpan lead) : ITokenPeer
{
    private readonly ConcurrentDictionary<string, StrongBox<Secret>> _refreshTokens = new(StringComparer.Ordinal);

    /// <summary>The clock every peer uses.</summary>
    protected static TimeProvider Time => TimeProvider.System;

    /// <summary>Lead time before expiry at which a token stops being served.</summary>
    protected TimeSpan Lead { get; } = lead;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public Task AddAsync(string accountId, string refreshToken, string accessToken, DateTimeOffset expiresAt)
    {
        _refreshTokens[accountId] = new StrongBox<Secret>(new Secret(refreshToken));
        return SeedAsync(accountId, new CachedToken(new Secret(accessToken), expiresAt, (expiresAt - Lead).UtcTicks));
    }

    /// <summary>Puts the initial token into the cache.</summary>
    protected abstract Task SeedAsync(string accountId, CachedToken token);

    /// <inheritdoc />
    public abstract ValueTask<Secret> GetTokenAsync(string accountId, CancellationToken cancellationToken = default);

    /// <summary>One refresh_token grant through the shared client; stores a rotated refresh token.</summary>
    protected async Task<CachedToken> RefreshAsync(string accountId, CancellationToken cancellationToken)
    {
        var box = _refreshTokens[accountId];
        var outcome = await upstream.Client.RefreshAsync(upstream.Profile, Volatile.Read(ref box.Value)!, cancellationToken).ConfigureAwait(false);
        switch (outcome)
        {
            case RefreshOutcome.Refreshed r:
                if (r.RefreshToken is not null) Volatile.Write(ref box.Value, r.RefreshToken);
                return new CachedToken(r.AccessToken, r.ExpiresAt, (r.ExpiresAt - Lead).UtcTicks);
            case RefreshOutcome.RateLimited rl:
                throw new PeerRefreshException(outcome.Kind, rl.RetryAt);
            default:
                throw new PeerRefreshException(outcome.Kind, null);
        }
    }

    /// <inheritdoc />
    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A mutable reference cell.</summary>
    protected sealed class StrongBox<T>(T value)
    {
        /// <summary>The value.</summary>
        public T Value = value;
    }
}
