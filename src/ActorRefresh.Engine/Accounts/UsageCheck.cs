namespace ActorRefresh.Engine.Accounts;

/// <summary>
/// One usage (quota) check of an account, from the timer that starts it to its result: its permit of the usage limiter
/// (never the refreshes') and the cancellation of its call. Its messages carry its id; one of a check that has ended
/// (timed out, abandoned, answered) is late and dropped.
/// </summary>
internal sealed class UsageCheck(int id) : PermittedCall(id);
