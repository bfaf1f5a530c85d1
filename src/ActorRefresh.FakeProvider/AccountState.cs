namespace ActorRefresh.TestKit;

/// <summary>
/// Everything the server knows about one account (or, for the id "*", the global fault scripts).
/// Mutable fields are only touched under <see cref="Gate"/>; counters read outside it use <see cref="Volatile"/>.
/// </summary>
internal sealed class AccountState(string id)
{
    public readonly Lock Gate = new();

    public string Id { get; } = id;

    public Guid AccountUuid { get; } = Guid.NewGuid();

    public Guid OrganizationUuid { get; } = Guid.NewGuid();

    public string? AccessToken;
    public string? RefreshToken;
    public DateTimeOffset ExpiresAt;
    public bool AccessRevoked;

    public readonly Queue<FakeFault> Faults = new();
    public FakeFault? PersistentFault;
    public readonly Queue<FakeUsageFault> UsageFaults = new();
    public FakeUsageFault? PersistentUsageFault;

    public double FiveHourUtilization;
    public double SevenDayUtilization;
    public DateTimeOffset? FiveHourResetsAt;
    public DateTimeOffset? SevenDayResetsAt;

    // Last Retry-After deadline sent to this account; survives ResetCounters because it is server state, not a counter.
    public DateTimeOffset? BackoffUntil;

    public int InFlight;
    public int RefreshCalls;
    public int UsageCalls;
    public int Reuse;
    public int Overlapping;
    public int CallsDuringBackoff;
    public int Rotations;
    public int AnswersLost;

    public bool HasTokens => RefreshToken is not null;
}
