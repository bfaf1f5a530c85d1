using ActorRefresh.Core.Tokens;
using ActorRefresh.Core.Usage;
using ActorRefresh.Engine.Credentials;
using ActorRefresh.Engine.Limiting;

namespace ActorRefresh.Engine.Accounts;

/// <summary>The messages <see cref="AccountActor"/> sends itself: results piped back from its calls, and its timers.</summary>
internal sealed partial class AccountActor
{
    // ---- internal messages ----------------------------------------------------------------------------

    private sealed record HistoryScrubbed(string? Error);

    private sealed record LimiterAnswered(int Attempt, LimiterPermit Permit, bool Granted);

    private sealed record RefreshCompleted(int Attempt, string SpentFingerprint, RefreshOutcome Outcome);

    private sealed record PreRefreshFileRead(int Attempt, CredentialsFileSnapshot Snapshot);

    private sealed record CredentialsFileObserved(CredentialsFileSnapshot Snapshot);

    private sealed record CredentialsFileWritten(string? Error);
    private sealed record UsageLimiterAnswered(int Check, LimiterPermit Permit, bool Granted);

    private sealed record UsageCompleted(int Check, string TokenFingerprint, UsageOutcome Outcome);

    private static class Timer
    {
        public const string ProactiveRefreshKey = "proactive-refresh";
        public const string RetryKey = "retry";
        public const string RequestTimeoutKey = "request-timeout";
        public const string CredentialsFilePollKey = "credentials-file-poll";

        public sealed record CredentialsFilePoll
        {
            public static CredentialsFilePoll Instance { get; } = new();
        }
        public const string WithdrawTimeoutKey = "withdraw-timeout";
        public const string UsageCheckKey = "usage-check";
        public const string UsageTimeoutKey = "usage-timeout";

        public sealed record UsageCheck
        {
            public static UsageCheck Instance { get; } = new();
        }

        public sealed record UsageTimeout(int Check);

        public const string GrantCheckKey = "grant-check";

        public sealed record GrantCheck
        {
            public static GrantCheck Instance { get; } = new();
        }

        public sealed record ProactiveRefresh
        {
            public static ProactiveRefresh Instance { get; } = new();
        }

        public sealed record Retry
        {
            public static Retry Instance { get; } = new();
        }

        public sealed record RequestTimeout(int Attempt);

        public const string OwnershipRecheckKey = "ownership-recheck";

        public sealed record OwnershipRecheck(int Attempt);

        /// <summary>For a refresh attempt or a credential replacement: the number of the one it belongs to.</summary>
        public sealed record WithdrawTimeout(int Attempt);
    }
}
