namespace ActorRefresh.Engine.Accounts;

/// <summary>Every message an account (or its region) handles carries the account id it is for.</summary>
public interface IAccountMessage
{
    /// <summary>The account the message is for.</summary>
    string AccountId { get; }
}

/// <summary>Messages of the account entity: commands, queries and their replies.</summary>
public static class AccountProtocol
{
    /// <summary>Asks for a valid access token. Replied with a <see cref="TokenReply"/>.</summary>
    public sealed record GetToken(string AccountId) : IAccountMessage;

    /// <summary>
    /// Reports that the API refused the access token with this fingerprint. Refreshes only when it is the
    /// current token's; otherwise answered with the current token. Replied with a <see cref="TokenReply"/>.
    /// </summary>
    public sealed record ReportRejected(string AccountId, string TokenFingerprint) : IAccountMessage;

    /// <summary>
    /// Hands the account what an API response said about its quota: the <c>anthropic-ratelimit-unified-*</c> headers
    /// (see <see cref="ActorRefresh.Core.Usage.UnifiedRateLimitHeaders"/> for the mapping) and, for a 429, its
    /// <c>Retry-After</c>. A 429 puts the account in API cooldown until then and brings its next usage check forward.
    /// Replied with <see cref="StatusReply"/>.
    /// </summary>
    /// <param name="AccountId">The account.</param>
    /// <param name="StatusCode">The API response's HTTP status.</param>
    /// <param name="Headers">The API response's headers (others than the quota ones are ignored).</param>
    public sealed record ReportUsage(string AccountId, int StatusCode, IReadOnlyList<KeyValuePair<string, string>> Headers) : IAccountMessage;

    /// <summary>Registers a new account. Replied with <see cref="StatusReply"/> or <see cref="CommandRefused"/>.</summary>
    public sealed record Register(AccountCredentials Credentials) : IAccountMessage
    {
        /// <inheritdoc />
        public string AccountId => Credentials.AccountId;
    }

    /// <summary>Replaces the credentials after a re-login. Replied with <see cref="StatusReply"/> or <see cref="CommandRefused"/>.</summary>
    public sealed record ReplaceCredentials(AccountCredentials Credentials) : IAccountMessage
    {
        /// <inheritdoc />
        public string AccountId => Credentials.AccountId;
    }

    /// <summary>Lifts a block. Replied with <see cref="StatusReply"/>.</summary>
    public sealed record Unblock(string AccountId) : IAccountMessage;

    /// <summary>Blocks the account by operator decision. Replied with <see cref="StatusReply"/>.</summary>
    public sealed record Block(string AccountId, string Reason) : IAccountMessage;

    /// <summary>Refreshes now unless backing off or blocked. Replied with <see cref="StatusReply"/>.</summary>
    public sealed record ForceRefresh(string AccountId) : IAccountMessage;

    /// <summary>Forgets the account and its tokens. Replied with <see cref="StatusReply"/> of the removed account.</summary>
    public sealed record Remove(string AccountId) : IAccountMessage;

    /// <summary>Asks for the status. Replied with <see cref="StatusReply"/>.</summary>
    public sealed record GetStatus(string AccountId) : IAccountMessage;

    /// <summary>Answer to <see cref="GetToken"/> and <see cref="ReportRejected"/>.</summary>
    public abstract record TokenReply(string AccountId) : IAccountMessage;

    /// <summary>A valid token.</summary>
    public sealed record TokenGranted(string AccountId, AccessToken Token) : TokenReply(AccountId);

    /// <summary>No valid token; refreshes are paused until <paramref name="Until"/>.</summary>
    public sealed record BackingOff(string AccountId, DateTimeOffset Until, string Reason) : TokenReply(AccountId);

    /// <summary>The account is blocked.</summary>
    public sealed record Blocked(string AccountId, string Reason) : TokenReply(AccountId);

    /// <summary>No such account.</summary>
    public sealed record NotRegistered(string AccountId) : TokenReply(AccountId);

    /// <summary>The account's status (no token inside).</summary>
    public sealed record StatusReply(AccountStatus Status) : IAccountMessage
    {
        /// <inheritdoc />
        public string AccountId => Status.AccountId;
    }

    /// <summary>A command was refused; nothing stored was changed.</summary>
    public sealed record CommandRefused(string AccountId, string Reason) : IAccountMessage;

    /// <summary>
    /// Sent at shutdown: the account finishes a refresh in flight (its outcome journaled, its callers answered),
    /// starts no new one, and replies <see cref="Drained"/>.
    /// </summary>
    public sealed record Drain(string AccountId) : IAccountMessage;

    /// <summary>Asks the region to drain every account it hosts. Replied with <see cref="Drained"/>.</summary>
    public sealed record DrainAll
    {
        /// <summary>The one instance.</summary>
        public static DrainAll Instance { get; } = new();
    }

    /// <summary>No refresh is in flight any more.</summary>
    public sealed record Drained
    {
        /// <summary>The one instance.</summary>
        public static Drained Instance { get; } = new();
    }

    /// <summary>Asks the region for the ids of every registered account. Replied with <see cref="AccountIds"/>.</summary>
    public sealed record ListAccounts
    {
        /// <summary>The one instance.</summary>
        public static ListAccounts Instance { get; } = new();
    }

    /// <summary>Ids of every registered account.</summary>
    public sealed record AccountIds(IReadOnlyList<string> Ids);

    /// <summary>Asks the directory how many accounts it holds and whether one of them is <paramref name="AccountId"/>. Replied with <see cref="AccountCount"/>.</summary>
    internal sealed record CountAccounts(string AccountId);

    /// <summary>How many accounts the directory holds, and whether the asked id is one of them.</summary>
    internal sealed record AccountCount(int Count, bool Includes);
}
