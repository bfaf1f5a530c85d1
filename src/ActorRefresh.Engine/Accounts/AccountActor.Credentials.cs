using ActorRefresh.Engine.Clustering;
using ActorRefresh.Engine.Credentials;
using Akka.Actor;
using Akka.Event;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Registration, new credentials and the Claude credentials file of <see cref="AccountActor"/>.</summary>
internal sealed partial class AccountActor
{
    // ---- registration and credentials ------------------------------------------------------------------

    private void OnCredentialsFileObserved(CredentialsFileObserved observed)
    {
        if (observed.Snapshot.Credentials is not { } file)
        {
            _services.Metrics.CredentialsFileRead("unreadable");
            if (observed.Snapshot.Error is { } error) _log.Warning("Account {AccountId}: credentials file not readable: {Error}", _accountId, error);
            NoteCredentialsFile(observed.Snapshot.Error);
            return;
        }
        NoteCredentialsFile(null);
        var decision = _data.DecideCredentialsFile(file, Now);
        _services.Metrics.CredentialsFileRead(ReadResult(decision));
        switch (decision)
        {
            case CredentialsFileDecision.Adopt:
                _currentTokenRejected = false;
                PersistAndEnter(_data.AdoptionOf(file, Now, MaxGrantLifetime()), () =>
                    _log.Info("Account {AccountId}: adopted a newer token pair written to its credentials file by another program.", _accountId));
                break;
            case CredentialsFileDecision.WriteBack:
                WriteCredentialsFile();
                break;
        }
    }

    private static string ReadResult(CredentialsFileDecision decision) => decision switch
    {
        CredentialsFileDecision.Adopt => "adopted",
        CredentialsFileDecision.WriteBack => "written_back",
        _ => "unchanged",
    };

    private void WriteCredentialsFile()
    {
        if (_data is { CredentialsFile: { } path, AccessToken: { } access, RefreshToken: { } refresh, ExpiresAt: { } expiresAt })
            CredentialsFileSync.WriteAsync(path, access, refresh, expiresAt).PipeTo(Self, success: error => new CredentialsFileWritten(error));
    }

    private void OnRegister(Register m)
    {
        var c = AccountCredentialsRules.WithoutExpiredAccessToken(m.Credentials, Now);
        if (Validate(c) is { } problem)
        {
            Refuse(m.AccountId, problem);
            return;
        }
        var now = Now;
        PersistAndEnter(new AccountRegistered(c.Provider, c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, now)
        {
            GrantExpiresAt = GrantEndOfNewLogin(c, now),
        }, ReplyStatus);
    }

    private void OnReplaceCredentials(ReplaceCredentials m)
    {
        var c = AccountCredentialsRules.WithoutExpiredAccessToken(m.Credentials, Now);
        if (Validate(c) is { } problem)
        {
            Refuse(m.AccountId, problem);
            return;
        }
        if (!string.Equals(c.Provider, _data.Provider, StringComparison.OrdinalIgnoreCase))
        {
            Refuse(m.AccountId, $"account '{m.AccountId}' uses provider '{_data.Provider}', not '{c.Provider}'");
            return;
        }
        if (c.RefreshToken is { } offered && _data.HasSpent(offered))
        {
            // Presenting a consumed refresh token gets invalid_grant at best, and may make the provider revoke the whole family.
            Refuse(m.AccountId, $"account '{m.AccountId}' already spent this refresh token (it holds a newer one); import the credentials of a new login");
            return;
        }
        if (_services.Cluster is not null)
        {
            // Several nodes: the old token stops being served everywhere before the new credentials are journaled and the
            // replacement is confirmed, as before a refresh replaces it upstream (a node that does not confirm in time is,
            // or is about to be, unreachable, and drops this node's tokens anyway).
            var pending = _fanout.WithdrawConfirmed(_accountId, LastSequenceNr, Self, fallbackExpiresAt: null);
            if (pending > 0)
            {
                var replacement = _replacing = new PendingReplacement(m, Sender, pending, NextOperationId());
                Timers.StartSingleTimer(Timer.WithdrawTimeoutKey, new Timer.WithdrawTimeout(replacement.Id), _services.Cluster.EffectiveWithdrawTimeout);
                Become(AwaitingReplacementConfirmations);
                return;
            }
        }
        PersistReplacement(m, Sender);
    }

    /// <summary>A replacement waiting for every node to confirm it dropped the old token.</summary>
    private sealed record PendingReplacement(ReplaceCredentials Command, IActorRef ReplyTo, int Pending, int Id)
    {
        public int Pending { get; set; } = Pending;
    }

    private PendingReplacement? _replacing;

    private void AwaitingReplacementConfirmations()
    {
        Command<TokenWithdrawConfirmed>(m =>
        {
            if (_replacing is { } r && m.Version == LastSequenceNr * 2 + 1 && --r.Pending == 0) ContinueReplacement();
        });
        Command<Timer.WithdrawTimeout>(m =>
        {
            if (_replacing is not { } r || m.Attempt != r.Id) return;
            _log.Warning("Account {AccountId}: {PendingNodes} node(s) did not confirm dropping the old token in time; replacing the credentials anyway.", _accountId, r.Pending);
            ContinueReplacement();
        });
        Command<GetStatus>(_ => ReplyStatus());
        // Everything else (callers included: they get the new token) waits until the new credentials are journaled.
        CommandAny(_ => Stash.Stash());
    }

    private void ContinueReplacement()
    {
        var r = _replacing!;
        _replacing = null;
        Timers.Cancel(Timer.WithdrawTimeoutKey);
        PersistReplacement(r.Command, r.ReplyTo);
    }

    private void PersistReplacement(ReplaceCredentials m, IActorRef replyTo)
    {
        // Checked again: confirmations may have taken long enough for the access token to expire meanwhile.
        var c = AccountCredentialsRules.WithoutExpiredAccessToken(m.Credentials, Now);
        _currentTokenRejected = false;
        // A check under way was made with the old token: its answer is about the old credentials.
        AbandonUsageCheck();
        var now = Now;
        PersistAndEnter(new CredentialsReplaced(c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, now)
        {
            GrantExpiresAt = GrantEndOfNewLogin(c, now),
        }, () =>
        {
            // An organisation-policy block stands until a usage check with the new access token succeeds: check now.
            if (_data.PolicyRecheckPending) ArmUsageCheck(TimeSpan.Zero);
            replyTo.Tell(new StatusReply(Status()));
            Stash.UnstashAll();
        });
    }

    private string? Validate(AccountCredentials c) => AccountCredentialsRules.Problem(c, _services.Providers, Now);

    private void Refuse(string accountId, string reason) => Sender.Tell(new CommandRefused(accountId, reason));
}
