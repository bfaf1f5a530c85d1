namespace ActorRefresh.Engine;

/// <summary>Engine settings, bound from configuration section <c>ActorRefresh:Engine</c>.</summary>
public sealed class EngineOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string Section = "ActorRefresh:Engine";

    /// <summary>
    /// How long before expiry an access token stops being handed out and is refreshed; never more than a quarter of the
    /// lifetime the provider granted (the jitter and minimum validity are scaled alike), so short-lived tokens are
    /// served for most of their life and refreshed once.
    /// </summary>
    public TimeSpan RefreshLead { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The proactive refresh fires up to this much earlier than the refresh point, spreading refreshes of tokens that
    /// expire together (scaled with the lead for tokens living less than four times <see cref="RefreshLead"/>).
    /// </summary>
    public TimeSpan RefreshJitter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>While backing off, a token is still served if it stays valid at least this long (scaled with the lead).</summary>
    public TimeSpan MinimumValidity { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Extra time over the provider's request timeout before the account gives up on an upstream call.</summary>
    public TimeSpan RequestTimeoutGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often an account synced with a Claude credentials file checks it for a pair another program wrote.</summary>
    public TimeSpan CredentialsFilePollInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>An account saves a snapshot once this many events (of any kind) have been journaled since its last one.</summary>
    public int SnapshotEvery { get; set; } = 50;

    /// <summary>Refreshes in flight per provider on this node.</summary>
    public int MaxConcurrentRefreshes { get; set; } = 4;

    /// <summary>Refreshes started per second per provider on this node.</summary>
    public int MaxRefreshesPerSecond { get; set; } = 10;

    /// <summary>Refreshes that may wait for the limiter per provider before further ones fail as transient.</summary>
    public int RefreshQueueLimit { get; set; } = 100_000;

    /// <summary>Usage (quota) checks in flight per provider on this node. Separate from the refresh permits: checks never hold up a refresh.</summary>
    public int MaxConcurrentUsageChecks { get; set; } = 2;

    /// <summary>Usage checks started per second per provider on this node.</summary>
    public int MaxUsageChecksPerSecond { get; set; } = 5;

    /// <summary>Usage checks that may wait for their limiter per provider before further ones fail (as a quota-check backoff).</summary>
    public int UsageCheckQueueLimit { get; set; } = 100_000;

    /// <summary>
    /// Longest a caller waits for an account's answer. Unset (the default), it is derived from the other settings so that
    /// a request is held and answered, not failed, while the engine does what it may legitimately take: recover the
    /// account from the journal, finish a refresh in flight (the longest provider <c>RequestTimeout</c> plus
    /// <see cref="RequestTimeoutGrace"/>) and, in cluster mode, move the account's shard to another node (failure
    /// detection, the split-brain resolver's decision, the coordinator's hand-over). See <see cref="EngineServices.AskTimeout"/>.
    /// A value set here is used as given: shorter ones fail callers while a node joins, leaves or fails.
    /// </summary>
    public TimeSpan? AskTimeout { get; set; }

    /// <summary>Shortest and longest pause before a failed account actor (e.g. journal down) is restarted.</summary>
    public TimeSpan RestartMinBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc cref="RestartMinBackoff"/>
    public TimeSpan RestartMaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often an account checks its quota at the provider's usage endpoint (only providers that have one).</summary>
    public TimeSpan UsageCheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A usage check fires up to this much earlier than <see cref="UsageCheckInterval"/>, spreading checks of many accounts.</summary>
    public TimeSpan UsageCheckJitter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>After a caller reports an API 429, the account checks its quota this soon (unless its quota checks are backing off).</summary>
    public TimeSpan UsageCheckAfterRateLimit { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Utilisation (0–100) at which an account counts as exhausted for journaling: an observation is journaled
    /// only when it crosses this threshold (either way). Pools have their own <c>MaxUtilisation</c>.
    /// </summary>
    public double UtilisationThreshold { get; set; } = 90;

    /// <summary>
    /// Adds <c>actorrefresh_account_info{account,state}</c>: one series per account hosted on the node. Off by default:
    /// it puts account ids into the metrics.
    /// </summary>
    public bool PerAccountMetrics { get; set; }

    /// <summary>API cooldown after a reported 429 that carried neither Retry-After nor a reset time.</summary>
    public TimeSpan ApiCooldownDefault { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Returns the problems with these options, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string rule)
        {
            if (!ok) errors.Add($"{Section}:{key} {rule}");
        }
        Check(RefreshLead > TimeSpan.Zero, nameof(RefreshLead), "must be positive.");
        Check(RefreshJitter >= TimeSpan.Zero, nameof(RefreshJitter), "must not be negative.");
        Check(MinimumValidity >= TimeSpan.Zero && MinimumValidity < RefreshLead, nameof(MinimumValidity), "must be between 0 and RefreshLead.");
        Check(RequestTimeoutGrace >= TimeSpan.Zero, nameof(RequestTimeoutGrace), "must not be negative.");
        Check(CredentialsFilePollInterval >= TimeSpan.FromMilliseconds(100), nameof(CredentialsFilePollInterval), "must be at least 100 ms.");
        Check(SnapshotEvery >= 1, nameof(SnapshotEvery), "must be at least 1.");
        Check(MaxConcurrentRefreshes >= 1, nameof(MaxConcurrentRefreshes), "must be at least 1.");
        Check(MaxRefreshesPerSecond >= 1, nameof(MaxRefreshesPerSecond), "must be at least 1.");
        Check(RefreshQueueLimit >= 0, nameof(RefreshQueueLimit), "must not be negative.");
        Check(MaxConcurrentUsageChecks >= 1, nameof(MaxConcurrentUsageChecks), "must be at least 1.");
        Check(MaxUsageChecksPerSecond >= 1, nameof(MaxUsageChecksPerSecond), "must be at least 1.");
        Check(UsageCheckQueueLimit >= 0, nameof(UsageCheckQueueLimit), "must not be negative.");
        Check(AskTimeout is null || AskTimeout > TimeSpan.Zero, nameof(AskTimeout), "must be positive (or unset, to derive it).");
        Check(RestartMinBackoff > TimeSpan.Zero && RestartMaxBackoff >= RestartMinBackoff, nameof(RestartMinBackoff), "must be positive and not above RestartMaxBackoff.");
        Check(UsageCheckInterval >= TimeSpan.FromSeconds(1), nameof(UsageCheckInterval), "must be at least one second.");
        Check(UsageCheckJitter >= TimeSpan.Zero && UsageCheckJitter < UsageCheckInterval, nameof(UsageCheckJitter), "must be between 0 and UsageCheckInterval.");
        Check(UsageCheckAfterRateLimit >= TimeSpan.Zero, nameof(UsageCheckAfterRateLimit), "must not be negative.");
        Check(UtilisationThreshold is > 0 and <= 100, nameof(UtilisationThreshold), "must be above 0 and at most 100.");
        Check(ApiCooldownDefault > TimeSpan.Zero, nameof(ApiCooldownDefault), "must be positive.");
        return errors;
    }
}
