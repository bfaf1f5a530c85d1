using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Clustering;

/// <summary>Marker of the engine's cluster-internal messages, bound to the project's serializer in hocon.conf.</summary>
internal interface IClusterMessage;

/// <summary>
/// An account tells a node's read side replica that <paramref name="Token"/> is current until <paramref name="FreshUntil"/>.
/// <paramref name="Version"/> is twice the account's journal sequence number, so a later event always wins.
/// <paramref name="Origin"/> is the address of the node that published it (the node hosting the account): the replica drops
/// the token when that node becomes unreachable or leaves. Carried in the message, not taken from the sender, so it does
/// not depend on who happened to send it.
/// </summary>
internal sealed record TokenPublished(string AccountId, AccessToken Token, DateTimeOffset FreshUntil, long Version, string Origin) : IClusterMessage;

/// <summary>
/// Everything <paramref name="Origin"/> publishes now, sent by its replica to a node that has just become reachable again
/// (or joined): the receiver takes these tokens and drops every other token it holds from <paramref name="Origin"/>, so
/// publications and withdrawals it missed while it could not be reached are caught up.
/// </summary>
internal sealed record ReplicaSync(string Origin, IReadOnlyList<TokenPublished> Tokens) : IClusterMessage;

/// <summary>
/// An account tells a node's read side replica to stop serving its token. With <paramref name="Confirm"/> the replica
/// answers <see cref="TokenWithdrawConfirmed"/>: a refresh waits for those before it replaces the token upstream.
/// With <paramref name="Removed"/> the account was removed: the replica forgets it entirely.
/// <paramref name="FallbackExpiresAt"/> is the expiry of the access token the account still holds and would serve while it
/// backs off (or while its store is down); the replica keeps the token it last got from the account as the outage fallback
/// only while it is that one. Null (blocked, rejected, no token, replaced by one without an access token) ends the fallback.
/// </summary>
internal sealed record TokenWithdrawn(string AccountId, long Version, bool Confirm, bool Removed = false, DateTimeOffset? FallbackExpiresAt = null) : IClusterMessage;

/// <summary>Asks a replica how many accounts it keeps an entry for (diagnostics and tests). Replied with <see cref="ReplicaStats"/>.</summary>
internal sealed record GetReplicaStats
{
    public static GetReplicaStats Instance { get; } = new();
}

/// <summary>A replica's entries: <paramref name="Tokens"/> accounts with a published token, <paramref name="Tombstones"/> withdrawn ones.</summary>
internal sealed record ReplicaStats(int Tokens, int Tombstones);

/// <summary>A replica dropped the account's token (answer to a <see cref="TokenWithdrawn"/> with Confirm).</summary>
internal sealed record TokenWithdrawConfirmed(string AccountId, long Version) : IClusterMessage;

/// <summary>The message sharding sends back to a passivating or handed-off account: stop once idle.</summary>
internal sealed record StopAccount : IClusterMessage
{
    public static StopAccount Instance { get; } = new();
}
