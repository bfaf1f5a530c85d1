namespace ActorRefresh.TestKit;

/// <summary>
/// What the <see cref="FakeTokenServer"/> counted for the token requests of one account (see
/// <see cref="FakeTokenServer.CountersOf"/>). The server-wide counters are the sums of these plus the requests no
/// account owns; a test that asserts on its own accounts' counters is not failed by another test's accounts.
/// </summary>
/// <param name="RefreshCalls">Well-formed token requests presenting one of the account's refresh tokens, current or consumed.</param>
/// <param name="UsageCalls">Usage requests presenting one of the account's access tokens.</param>
/// <param name="RefreshTokenReuse">Requests presenting an already consumed refresh token of the account (as <see cref="FakeTokenServer.RefreshTokenReuse"/>).</param>
/// <param name="OverlappingRefreshes">Requests that arrived while another request of the account was in flight (as <see cref="FakeTokenServer.OverlappingRefreshes"/>).</param>
/// <param name="CallsDuringBackoff">Requests that arrived before the account's last <c>Retry-After</c> deadline (as <see cref="FakeTokenServer.CallsDuringBackoff"/>).</param>
/// <param name="InFlight">Requests of the account being processed right now.</param>
/// <param name="Rotations">Refresh tokens of the account consumed by token requests (a success, <see cref="FakeFault.RotateThenReset"/>, <see cref="FakeFault.RotateOnReceipt"/>); <see cref="FakeTokenServer.RotateExternally"/> is not counted.</param>
/// <param name="AnswersLost">Requests that rotated the account's tokens but whose answer never reached the client (<see cref="FakeFault.RotateThenReset"/>, or a client gone before a <see cref="FakeFault.RotateOnReceipt"/> answered).</param>
public sealed record FakeAccountCounters(
    int RefreshCalls,
    int UsageCalls,
    int RefreshTokenReuse,
    int OverlappingRefreshes,
    int CallsDuringBackoff,
    int InFlight,
    int Rotations,
    int AnswersLost)
{
    /// <summary>The counters of an account the server has never seen.</summary>
    public static FakeAccountCounters None { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);
}
