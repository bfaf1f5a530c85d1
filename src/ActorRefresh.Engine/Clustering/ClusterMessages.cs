using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Clustering;

/// <summary>Marker of the engine's cluster-internal messages, bound to the project's serializer in hocon.conf.</summary>
internal interface IClusterMessage;

/// <summary>
/// An account tells a node's read side replica that <paramref name="Token"/> is current until <paramref name="FreshUntil"/>.
/// <paramref name="Version"/> is twice the account's journal sequence number, so a later event always wins.
/// </summary>
internal sealed record TokenPublished(string AccountId, AccessToken Token, DateTimeOffset FreshUntil, long Version) : IClusterMessage;

/// <summary>
/// An account tells a node's read side replica to stop serving its token. With <paramref name="Confirm"/> the replica
/// answers <see cref="TokenWithdrawConfirmed"/>: a refresh waits for those before it replaces the token upstream.
/// With <paramref name="Removed"/> the account was removed: the replica forgets it entirely.
/// </summary>
internal sealed record TokenWithdrawn(string AccountId, long Version, bool Confirm, bool Removed = false) : IClusterMessage;

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
