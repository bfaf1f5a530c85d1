using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using Akka.Actor;
using Akka.Hosting;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Hosting.Tokens;

/// <summary>
/// <see cref="ITokenProvider"/> over the account region. A fresh token comes from the node's read side with no
/// actor round trip; everything else is an Ask with an explicit timeout. Cancelling a caller's token only
/// abandons that caller's wait: the account's refresh goes on and answers the others.
/// </summary>
internal sealed class TokenProvider(IRequiredActor<AccountRegionKey> region, EngineServices services) : ITokenProvider
{
    private readonly TimeSpan _askTimeout = services.Options.AskTimeout;

    public ValueTask<AccessToken> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        if (services.ReadSide.TryGetFreshToken(accountId, out var token))
        {
            services.Metrics.TokenRequest("served");
            return ValueTask.FromResult(token);
        }
        return new ValueTask<AccessToken>(AskTokenOrStillValidAsync(accountId, cancellationToken));
    }

    /// <summary>
    /// Asks the account; if it cannot answer (store down, actor restarting), serves the token it last published when that
    /// stays valid long enough — the answer the account itself gives while backing off — else the "store unavailable" error.
    /// </summary>
    private async Task<AccessToken> AskTokenOrStillValidAsync(string accountId, CancellationToken cancellationToken)
    {
        try
        {
            return await AskTokenAsync(new GetToken(accountId), cancellationToken);
        }
        catch (EngineUnavailableException) when (services.ReadSide.TryGetStillValidToken(accountId, services.Options.MinimumValidity, out var token))
        {
            return token;
        }
    }

    public async Task ReportRejectedAsync(string accountId, string accessToken, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(accessToken)) throw new InvalidAccountCommandException(accountId, "the rejected access token is empty");
        services.ReadSide.DropRejected(accountId, Secret.FingerprintOf(accessToken));
        await AskTokenAsync(new ReportRejected(accountId, Secret.FingerprintOf(accessToken)), cancellationToken, throwOnFailure: false);
    }

    public Task<AccountStatus> RegisterAsync(AccountCredentials credentials, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Register(credentials), cancellationToken);

    public Task<AccountStatus> ReplaceCredentialsAsync(AccountCredentials credentials, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new ReplaceCredentials(credentials), cancellationToken);

    public Task<AccountStatus> UnblockAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Unblock(accountId), cancellationToken);

    public Task<AccountStatus> BlockAsync(string accountId, string reason, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Block(accountId, string.IsNullOrWhiteSpace(reason) ? "no reason given" : reason), cancellationToken);

    public Task<AccountStatus> ForceRefreshAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new ForceRefresh(accountId), cancellationToken);

    public Task RemoveAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Remove(accountId), cancellationToken);

    public Task<AccountStatus> GetStatusAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new GetStatus(accountId), cancellationToken);

    public Task<IReadOnlyList<AccountStatus>> ListAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(services.ReadSide.Statuses());

    private async Task<AccessToken> AskTokenAsync(IAccountMessage message, CancellationToken cancellationToken, bool throwOnFailure = true)
    {
        var reply = await AskAsync(message, cancellationToken);
        switch (reply)
        {
            case TokenGranted granted:
                return granted.Token;
            case AccountProtocol.BackingOff b:
                services.Metrics.TokenRequest("backing_off");
                if (!throwOnFailure) return null!;
                throw new TokenBackingOffException(message.AccountId, b.Until, b.Reason);
            default:
                if (!throwOnFailure) return null!;
                throw Failure(message.AccountId, reply);
        }
    }

    private async Task<AccountStatus> AskStatusAsync(IAccountMessage message, CancellationToken cancellationToken)
    {
        if (!AccountIdRules.IsValid(message.AccountId))
            throw new InvalidAccountCommandException(message.AccountId, AccountIdRules.Description);
        var reply = await AskAsync(message, cancellationToken);
        return reply is StatusReply status ? status.Status : throw Failure(message.AccountId, reply);
    }

    private async Task<object> AskAsync(IAccountMessage message, CancellationToken cancellationToken)
    {
        if (!AccountIdRules.IsValid(message.AccountId))
            throw new InvalidAccountCommandException(message.AccountId, AccountIdRules.Description);
        try
        {
            return await region.ActorRef.Ask<object>(message, _askTimeout, cancellationToken);
        }
        catch (AskTimeoutException e)
        {
            services.Metrics.TokenRequest("error");
            throw new EngineUnavailableException(message.AccountId, "the account did not answer in time", e);
        }
        catch (AccountUnavailableException e)
        {
            services.Metrics.TokenRequest("error");
            throw new EngineUnavailableException(message.AccountId, "store unavailable: the account is restarting", e);
        }
    }

    private static Exception Failure(string accountId, object reply) => reply switch
    {
        Blocked b => new AccountBlockedException(accountId, b.Reason),
        NotRegistered => new AccountNotFoundException(accountId),
        CommandRefused r => new InvalidAccountCommandException(accountId, r.Reason),
        Status.Failure f => new EngineUnavailableException(accountId, "store unavailable", f.Cause),
        _ => new EngineUnavailableException(accountId, $"unexpected answer {reply.GetType().Name}"),
    };
}
