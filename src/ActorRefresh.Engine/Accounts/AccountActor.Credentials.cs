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
            if (observed.Snapshot.Error is { } error) _log.Warning("Account {0}: credentials file not readable: {1}", _accountId, error);
            return;
        }
        var decision = _data.DecideCredentialsFile(file, Now);
        _services.Metrics.CredentialsFileRead(ReadResult(decision));
        switch (decision)
        {
            case CredentialsFileDecision.Adopt:
                _currentTokenRejected = false;
                PersistAndEnter(AdoptionOf(file), () =>
                    _log.Info("Account {0}: adopted a newer token pair written to its credentials file by another program.", _accountId));
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
        PersistAndEnter(new AccountRegistered(c.Provider, c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, Now), ReplyStatus);
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
        if (_data.HasSpent(c.RefreshToken))
        {
            // Presenting a consumed refresh token gets invalid_grant at best, and may make the provider revoke the whole family.
            Refuse(m.AccountId, $"account '{m.AccountId}' already spent this refresh token (it holds a newer one); import the credentials of a new login");
            return;
        }
        _currentTokenRejected = false;
        // A check under way was made with the old token: its answer is about the old credentials.
        AbandonUsageCheck();
        PersistAndEnter(new CredentialsReplaced(c.RefreshToken, c.AccessToken, c.ExpiresAt, c.CredentialsFile, Now), () =>
        {
            // An organisation-policy block stands until a usage check with the new access token succeeds: check now.
            if (_data.PolicyRecheckPending) ArmUsageCheck(TimeSpan.Zero);
            ReplyStatus();
        });
    }

    private string? Validate(AccountCredentials c) => AccountCredentialsRules.Problem(c, _services.Providers, Now);

    private void Refuse(string accountId, string reason) => Sender.Tell(new CommandRefused(accountId, reason));
}
