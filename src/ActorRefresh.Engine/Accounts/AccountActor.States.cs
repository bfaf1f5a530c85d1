using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Credentials;
using ActorRefresh.Engine.ReadSide;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>The behaviours of <see cref="AccountActor"/>: which message each state handles, and how.</summary>
internal sealed partial class AccountActor
{
    // ---- behaviours ------------------------------------------------------------------------------

    private void Unregistered()
    {
        Command<Register>(OnRegister);
        Command<IAccountMessage>(m =>
        {
            Sender.Tell(new NotRegistered(m.AccountId));
            StopIfUnregistered();
        });
        Command<StopAccount>(_ => Context.Stop(Self));
        CommonTimers();
    }

    /// <summary>
    /// An entity without an account (never registered, or removed) asks to be stopped, so that an unknown or removed id
    /// is not kept, remembered and restarted forever: a sharded one asks its shard to passivate it, a standalone one asks
    /// the region. The backoff supervisor in between passes the request up.
    /// </summary>
    private void StopIfUnregistered()
    {
        if (_data.IsRegistered || _removal is not null) return;
        Context.Parent.Tell(_services.Cluster is not null ? new Akka.Cluster.Sharding.Passivate(StopAccount.Instance) : StopAccount.Instance);
    }

    private void Valid()
    {
        Command<GetToken>(_ => OnTokenRequest(Sender));
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                _currentTokenRejected = true;
                StartRefresh(Sender, "access token rejected by the API");
            }
            else
            {
                OnTokenRequest(Sender);
            }
        });
        Command<ForceRefresh>(_ =>
        {
            StartRefresh(null, "forced by an operator");
            ReplyStatus();
        });
        Command<Timer.ProactiveRefresh>(_ =>
        {
            // Timers are armed at most MaxTimerDelay ahead: a long-lived token's expiry is re-armed until it is due.
            if (_nextRefreshAt is { } due && due > Now) ArmProactiveRefresh(due);
            else StartRefresh(null, "proactive refresh before expiry");
        });
        RegisteredCommands();
    }

    private void BackingOff()
    {
        Command<GetToken>(_ => OnTokenRequest(Sender));
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                // The token is refused and refreshing is paused: do not hand it out again.
                _currentTokenRejected = true;
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true, FallbackExpiry());
            }
            OnTokenRequest(Sender);
        });
        Command<ForceRefresh>(_ => ReplyStatus());
        Command<Timer.Retry>(_ => StartRefresh(null, "backoff ended"));
        RegisteredCommands();
    }

    private void PolicyBlocked()
    {
        Command<GetToken>(_ => OnTokenRequest(Sender));
        Command<ReportRejected>(_ => OnTokenRequest(Sender));
        Command<ForceRefresh>(_ => ReplyStatus());
        RegisteredCommands();
    }

    private void Refreshing()
    {
        Command<ReportUsage>(OnReportUsage);
        Command<UsageLimiterAnswered>(OnUsageLimiterAnswered);
        // Usage results wait for the refresh's outcome: they may be about the token being replaced.
        Command<UsageCompleted>(_ => Stash.Stash());
        Command<Timer.UsageTimeout>(_ => Stash.Stash());
        Command<Timer.UsageCheck>(_ => _usageDueAt = null);
        Command<GetToken>(_ =>
        {
            // A proactive refresh runs while the current token is still fresh: keep serving it (unless this node may have been
            // replaced meanwhile: its successor may have replaced the token; the caller is answered with the outcome).
            if (!_currentTokenRejected && _data.HasFreshToken(Now, _options) && MayActAsOwner())
                ReplyToken(Sender, new TokenGranted(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value)));
            else
                _attempt!.Waiters.Add(Sender);
        });
        Command<ReportRejected>(m =>
        {
            if (IsCurrentToken(m.TokenFingerprint))
            {
                _currentTokenRejected = true;
                _fanout.Withdraw(_accountId, LastSequenceNr, doubt: true, FallbackExpiry());
            }
            _attempt!.Waiters.Add(Sender);
        });
        Command<Drain>(_ =>
        {
            _draining = true;
            _drains.Add(Sender);
            if (!UpstreamCallStarted) AbandonRefreshBeforeCall();
        });
        Command<TokenWithdrawConfirmed>(OnWithdrawConfirmed);
        Command<Timer.WithdrawTimeout>(OnWithdrawTimeout);
        // A hand-off or passivation: a call already made is waited for (the provider may have rotated); one not yet made
        // (waiting for withdraw confirmations, a limiter permit or the credentials file) is not made here at all.
        Command<StopAccount>(_ =>
        {
            _stopWhenIdle = true;
            if (!UpstreamCallStarted) AbandonRefreshBeforeCall();
        });
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f => _log.Warning("Account {AccountId}: snapshot failed: {ErrorType}", _accountId, f.Cause.GetType().Name));
        HistoryDeletionReplies();
        Command<LimiterAnswered>(OnLimiterAnswered);
        Command<PreRefreshFileRead>(OnPreRefreshFileRead);
        Command<RefreshCompleted>(OnRefreshCompleted);
        Command<Timer.CredentialsFilePoll>(_ => { });
        Command<CredentialsFileObserved>(_ => { });
        Command<Timer.OwnershipRecheck>(OnOwnershipRecheck);
        Command<Timer.RequestTimeout>(OnRequestTimeout);
        Command<GetStatus>(_ => ReplyStatus());
        Command<ForceRefresh>(_ => ReplyStatus());
        // Everything that changes credentials or the state waits until the refresh's outcome is journaled.
        Command<IAccountMessage>(_ => Stash.Stash());
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
        // Re-armed when the refresh's outcome is journaled.
        Command<Timer.GrantCheck>(_ => { });
    }

    private void RegisteredCommands()
    {
        Command<Timer.GrantCheck>(_ => OnGrantCheck());
        Command<ReportUsage>(OnReportUsage);
        Command<Timer.UsageCheck>(_ => OnUsageTimer());
        Command<UsageLimiterAnswered>(OnUsageLimiterAnswered);
        Command<UsageCompleted>(OnUsageCompleted);
        Command<Timer.UsageTimeout>(OnUsageTimeout);
        Command<Register>(m => Refuse(m.AccountId, $"account '{m.AccountId}' is already registered; use replace-credentials"));
        Command<ReplaceCredentials>(OnReplaceCredentials);
        Command<Block>(m => PersistAndEnter(new AccountBlocked(ErrorClasses.Operator, "blocked by an operator: " + m.Reason, Now), ReplyStatus));
        Command<Unblock>(_ =>
        {
            if (_data.IsBlocked || _data.RetryAt is not null)
                PersistAndEnter(new AccountUnblocked(Now), ReplyStatus);
            else
                ReplyStatus();
        });
        Command<Remove>(_ =>
        {
            var last = Status();
            var replyTo = Sender;
            Persist(new AccountRemoved(Now), e =>
            {
                _data = _data.Apply(e);
                _fanout.Forget(_accountId, LastSequenceNr);
                _services.ReadSide.Forget(_accountId);
                // The removal is journaled; now delete the history, whose events and snapshots hold every token the
                // account had (encrypted). The answer waits for both deletions.
                _removal = new PendingRemoval(replyTo, last);
                DeleteMessages(LastSequenceNr);
                DeleteSnapshots(new SnapshotSelectionCriteria(long.MaxValue, DateTime.MaxValue));
                EnterJournaledState();
            });
        });
        Command<GetStatus>(_ => ReplyStatus());
        CommonTimers();
    }

    private void CommonTimers()
    {
        Command<Drain>(_ =>
        {
            _draining = true;
            Sender.Tell(Drained.Instance);
        });
        Command<Timer.CredentialsFilePoll>(_ =>
        {
            if (_data.CredentialsFile is { } path)
                CredentialsFileSync.ReadAsync(path).PipeTo(Self, success: snapshot => new CredentialsFileObserved(snapshot));
        });
        Command<CredentialsFileObserved>(OnCredentialsFileObserved);
        Command<CredentialsFileWritten>(m =>
        {
            if (m.Error is not null) _log.Warning("Account {AccountId}: writing its credentials file failed: {Error}", _accountId, m.Error);
            NoteCredentialsFile(m.Error);
        });
        Command<PreRefreshFileRead>(_ => { });
        Command<StopAccount>(_ => Context.Stop(Self));
        Command<TokenWithdrawConfirmed>(_ => { });
        Command<Timer.WithdrawTimeout>(_ => { });
        Command<RefreshCompleted>(OnLateRefreshCompleted);
        Command<LimiterAnswered>(m => m.Permit.Dispose());
        Command<Timer.RequestTimeout>(_ => { });
        Command<Timer.OwnershipRecheck>(_ => { });
        Command<Timer.ProactiveRefresh>(_ => { });
        Command<Timer.Retry>(_ => { });
        Command<Timer.UsageCheck>(_ => { });
        Command<Timer.UsageTimeout>(_ => { });
        Command<UsageLimiterAnswered>(m => m.Permit.Dispose());
        Command<UsageCompleted>(_ => { });
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f => _log.Warning("Account {AccountId}: snapshot failed: {ErrorType}", _accountId, f.Cause.GetType().Name));
        Command<HistoryScrubbed>(m =>
        {
            if (_removal is not { } removal) return;
            _removal = null;
            if (m.Error is not null) _log.Warning("Account {AccountId}: its history was deleted, but rewriting the store failed ({Error}); freed pages may still hold its encrypted tokens.", _accountId, m.Error);
            removal.ReplyTo.Tell(new StatusReply(removal.Last));
            StopIfUnregistered();
        });
        HistoryDeletionReplies();
    }
}
