using Akka.Actor;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Token requests of <see cref="AccountActor"/>: served, held for a refresh, or refused, and the replies.</summary>
internal sealed partial class AccountActor
{
    // ---- token requests ----------------------------------------------------------------------------

    private void OnTokenRequest(IActorRef caller)
    {
        var now = Now;
        var decision = _data.DecideToken(now, _options, _currentTokenRejected);
        switch (decision)
        {
            case TokenDecision.Refresh:
            case TokenDecision.Expired:
                StartRefresh(caller, "token requested near or past its refresh point");
                break;
            case TokenDecision.Serve when !MayActAsOwner():
                // Cluster mode, and this node hears no majority: the account may have moved and replaced this token. Ask again.
                caller.Tell(new Status.Failure(new Region.AccountUnavailableException(_accountId)));
                break;
            default:
                ReplyToken(caller, ReplyFor(decision, now));
                break;
        }
    }

    private TokenReply ReplyFor(TokenDecision decision, DateTimeOffset now) => decision switch
    {
        TokenDecision.Serve => new TokenGranted(_accountId, new AccessToken(_data.AccessToken!, _data.ExpiresAt!.Value)),
        TokenDecision.Blocked => new Blocked(_accountId, _data.LastError ?? "blocked"),
        TokenDecision.Expired => new Blocked(_accountId, "the long-lived access token has expired; register a new token"),
        TokenDecision.BackOff => new AccountProtocol.BackingOff(_accountId, _data.RetryAt ?? now, _data.LastError ?? "backing off"),
        TokenDecision.NotRegistered => new NotRegistered(_accountId),
        // Only reachable right after an outcome whose retry time is already due: report it as a backoff ending now.
        _ => new AccountProtocol.BackingOff(_accountId, _data.RetryAt ?? now, _data.LastError ?? "refresh pending"),
    };

    private void ReplyToken(IActorRef caller, TokenReply reply)
    {
        _services.Metrics.TokenRequest(reply switch
        {
            TokenGranted => "served",
            AccountProtocol.BackingOff => "backing_off",
            Blocked => "blocked",
            _ => "not_found",
        });
        if (!caller.IsNobody()) caller.Tell(reply);
    }

    private bool IsCurrentToken(string fingerprint) =>
        _data.AccessToken is { } token && string.Equals(token.Fingerprint, fingerprint, StringComparison.Ordinal);

    /// <summary>Ends the refresh attempt, if one is under way, and answers its callers with what the account holds now.</summary>
    private void AnswerWaiters()
    {
        var attempt = _attempt;
        _attempt = null;
        attempt?.Release();
        if (attempt is null || attempt.Waiters.Count == 0) return;
        var now = Now;
        var decision = _data.DecideToken(now, _options, _currentTokenRejected);
        var reply = ReplyFor(decision, now);
        foreach (var waiter in attempt.Waiters) ReplyToken(waiter, reply);
    }
}
