using Akka.Event;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Long-lived tokens (no refresh token) and the end of a grant, for <see cref="AccountActor"/>.</summary>
internal sealed partial class AccountActor
{
    /// <summary>
    /// The longest a timer is armed ahead: a long-lived token's expiry or a grant warning may be a year away, and a timer
    /// that far out is re-armed day by day instead (the clock is read again each time).
    /// </summary>
    internal static readonly TimeSpan MaxTimerDelay = TimeSpan.FromDays(1);

    private void ArmProactiveRefresh(DateTimeOffset due)
    {
        var delay = Delay(due, Now);
        Timers.StartSingleTimer(Timer.ProactiveRefreshKey, Timer.ProactiveRefresh.Instance, delay > MaxTimerDelay ? MaxTimerDelay : delay);
    }

    /// <summary>
    /// Where a refreshable account would refresh, a long-lived one is blocked (its token was refused, or has expired) or
    /// goes on serving; the callers waiting are answered either way. No upstream call.
    /// </summary>
    private void SettleStatic()
    {
        var block = _data.DecideStatic(Now, _currentTokenRejected);
        if (block is null)
        {
            AnswerWaiters();
            return;
        }
        PersistAndEnter(block, () =>
        {
            _log.Warning("Account {AccountId}: {Reason}.", _accountId, block.Reason);
            AnswerWaiters();
        });
    }

    /// <summary>When the grant of <paramref name="c"/>, a new login (registration or replacement), ends.</summary>
    private DateTimeOffset? GrantEndOfNewLogin(AccountCredentials c, DateTimeOffset now) =>
        AccountData.GrantEndOf(c.GrantExpiresAt, c.RefreshToken is null, c.ExpiresAt, MaxGrantLifetime(c.Provider), now);

    private TimeSpan? MaxGrantLifetime(string? provider = null) =>
        (provider ?? _data.Provider) is { } name && _services.Providers.TryGet(name, out var profile) ? profile.MaxGrantLifetime : null;

    /// <summary>Arms the check of the next grant warning (at most <see cref="MaxTimerDelay"/> ahead); none when none is due.</summary>
    private void ArmGrantCheck()
    {
        var now = Now;
        var at = _data.DecideGrantNotice(now) is not null ? now : _data.NextGrantNoticeAt(now);
        if (at is not { } due)
        {
            Timers.Cancel(Timer.GrantCheckKey);
            return;
        }
        var delay = Delay(due, now);
        Timers.StartSingleTimer(Timer.GrantCheckKey, Timer.GrantCheck.Instance, delay > MaxTimerDelay ? MaxTimerDelay : delay);
    }

    private void OnGrantCheck()
    {
        if (_data.DecideGrantNotice(Now) is not { } notice)
        {
            ArmGrantCheck();
            return;
        }
        PersistAndEnter(notice, () =>
            _log.Warning("Account {AccountId}: its grant ends at {GrantEnd:O}, in {Days} day(s) or less; log in again (or register a new token) before then.",
                _accountId, notice.GrantEnd, notice.Days));
    }
}
