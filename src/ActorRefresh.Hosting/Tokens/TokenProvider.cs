using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Engine.Region;
using Akka.Actor;
using Akka.Hosting;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Hosting.Tokens;

/// <summary>
/// <see cref="ITokenProvider"/>, <see cref="IAccountAdmin"/> and <see cref="IAccountPools"/> over the account region. A fresh token comes from the node's read side with no
/// actor round trip; everything else is an Ask with an explicit timeout. Cancelling a caller's token only
/// abandons that caller's wait: the account's refresh goes on and answers the others.
/// In cluster mode the region is the shard region (it routes to the node hosting the account), registering and
/// removing go through the cluster's directory, and the list is the directory's ids with each account's status.
/// </summary>
internal sealed class TokenProvider(
    IRequiredActor<AccountRegionKey> region,
    IRequiredActor<AccountDirectoryKey> directory,
    EngineServices services,
    AccountPools pools) : ITokenProvider, IAccountAdmin, IAccountPools
{
    private const int ListParallelism = 32;

    private readonly TimeSpan _askTimeout = services.AskTimeout;

    // Cluster mode: a request routed to a node that has just died is lost with it; queries are sent again this often
    // (the time the cluster takes to give a lost node's shards a new home) until one answers or the ask timeout ends.
    private readonly TimeSpan? _resendEvery = services.Cluster is { } cluster ? EngineHocon.ShardMoveTime(cluster) : null;
    private readonly PoolLeaser _leaser = new(pools, services);

    public ValueTask<AccessToken> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        if (services.ReadSide.TryGetFreshToken(accountId, out var token))
        {
            services.Metrics.TokenRequest("served");
            return ValueTask.FromResult(token);
        }
        if (services.ReadSide.TryGetRefusal(accountId, out var refusal))
        {
            // Blocked, or backing off with no valid token: the answer is known without asking the account.
            services.Metrics.TokenRequest(refusal.Blocked ? "blocked" : "backing_off");
            return ValueTask.FromException<AccessToken>(refusal.Blocked
                ? new AccountBlockedException(accountId, refusal.Reason)
                : new TokenBackingOffException(accountId, refusal.Until!.Value, refusal.Reason));
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
        AskStatusAsync(new Register(credentials), cancellationToken, directory.ActorRef);

    public Task<AccountStatus> ReplaceCredentialsAsync(AccountCredentials credentials, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new ReplaceCredentials(credentials), cancellationToken);

    public Task<AccountStatus> UnblockAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Unblock(accountId), cancellationToken);

    public Task<AccountStatus> BlockAsync(string accountId, string reason, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Block(accountId, string.IsNullOrWhiteSpace(reason) ? "no reason given" : reason), cancellationToken);

    public Task<AccountStatus> ForceRefreshAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new ForceRefresh(accountId), cancellationToken);

    public Task RemoveAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new Remove(accountId), cancellationToken, directory.ActorRef);

    public Task<AccountStatus> GetStatusAsync(string accountId, CancellationToken cancellationToken = default) =>
        AskStatusAsync(new GetStatus(accountId), cancellationToken);

    public Task<IReadOnlyList<AccountStatus>> ListAsync(CancellationToken cancellationToken = default) =>
        services.Cluster is null ? Task.FromResult(services.ReadSide.Statuses()) : ListClusterAsync(cancellationToken);

    async Task<(int Count, bool Includes)> IAccountAdmin.CountAccountsAsync(string accountId, CancellationToken cancellationToken)
    {
        var count = (AccountCount)await AskDirectoryAsync(new CountAccounts(accountId), cancellationToken).ConfigureAwait(false);
        return (count.Count, count.Includes);
    }

    /// <summary>
    /// Asks the directory; its failures are <see cref="EngineUnavailableException"/>: no answer in time, or "unavailable"
    /// while the region restarts after a store failure (the supervisor's reply while stopped, the dead-letter responder).
    /// </summary>
    private async Task<object> AskDirectoryAsync(object message, CancellationToken cancellationToken)
    {
        try
        {
            return await AskResendingAsync(directory.ActorRef, message, cancellationToken).ConfigureAwait(false);
        }
        catch (AskTimeoutException e)
        {
            throw new EngineUnavailableException("*", "the account directory did not answer in time", e);
        }
        catch (AccountUnavailableException e)
        {
            throw new EngineUnavailableException("*", "store unavailable: the account directory is restarting", e);
        }
    }

    public async Task CheckReadyAsync(CancellationToken cancellationToken = default)
    {
        // Standalone: the account region answers an Identify (the read side alone would outlive a stopped engine).
        // Cluster: the directory singleton answers one ListAccounts (this node is joined and the singleton runs);
        // no account is asked.
        try
        {
            if (services.Cluster is null)
            {
                var identity = await region.ActorRef.Ask<ActorIdentity>(new Identify(null), _askTimeout, cancellationToken).ConfigureAwait(false);
                if (identity.Subject is null) throw new EngineUnavailableException("*", "the account region is not running");
            }
            else
                await AskResendingAsync(directory.ActorRef, ListAccounts.Instance, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new EngineUnavailableException("*", "the engine did not answer in time", e);
        }
    }

    private async Task<IReadOnlyList<AccountStatus>> ListClusterAsync(CancellationToken cancellationToken)
    {
        var ids = (AccountIds)await AskDirectoryAsync(ListAccounts.Instance, cancellationToken).ConfigureAwait(false);
        var statuses = new AccountStatus?[ids.Ids.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Ids.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ListParallelism, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var reply = await AskAsync(new GetStatus(ids.Ids[i]), ct, region.ActorRef).ConfigureAwait(false);
                statuses[i] = (reply as StatusReply)?.Status;
            }).ConfigureAwait(false);
        return statuses.OfType<AccountStatus>().ToList();
    }

    public Task<AccountStatus> ReportUsageAsync(string accountId, int statusCode, IEnumerable<KeyValuePair<string, string>> headers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return AskStatusAsync(new ReportUsage(accountId, statusCode, headers.ToList()), cancellationToken);
    }

    public ValueTask<AccountLease> LeaseAsync(string pool, CancellationToken cancellationToken = default)
    {
        var pending = _leaser.LeaseAsync(pool, ViaAccountAsync, cancellationToken);
        return pending.IsCompletedSuccessfully ? ValueTask.FromResult(Unwrap(pool, pending.Result)) : AwaitLeaseAsync(pool, pending);
    }

    private static async ValueTask<AccountLease> AwaitLeaseAsync(string pool, ValueTask<LeaseResult> pending) => Unwrap(pool, await pending);

    private static AccountLease Unwrap(string pool, LeaseResult result) => result.Failure switch
    {
        LeaseFailure.None => result.Lease!,
        LeaseFailure.PoolNotFound => throw new PoolNotFoundException(pool),
        _ => throw new NoUsableAccountException(pool, result.EarliestUsableAt, result.Reason ?? "no usable account"),
    };

    /// <summary>The chosen account had no fresh token published: ask it (no refresh unless expiry requires one).</summary>
    private async ValueTask<AccessToken?> ViaAccountAsync(string accountId, CancellationToken cancellationToken)
    {
        try
        {
            return await GetTokenAsync(accountId, cancellationToken);
        }
        catch (Exception e) when (e is TokenBackingOffException or AccountBlockedException or AccountNotFoundException)
        {
            return null;
        }
    }

    public Task<PoolStatus> GetPoolAsync(string pool, CancellationToken cancellationToken = default) =>
        _leaser.Describe(pool) is { } status ? Task.FromResult(status) : Task.FromException<PoolStatus>(new PoolNotFoundException(pool));

    public IReadOnlyList<PoolDefinition> ListPools() => pools.List();

    public PoolDefinition DefinePool(PoolDefinition definition) => pools.Define(definition);

    public bool RemovePool(string pool) => pools.Remove(pool);

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

    private async Task<AccountStatus> AskStatusAsync(IAccountMessage message, CancellationToken cancellationToken, IActorRef? target = null)
    {
        if (!AccountIdRules.IsValid(message.AccountId))
            throw new InvalidAccountCommandException(message.AccountId, AccountIdRules.Description);
        var reply = await AskAsync(message, cancellationToken, target);
        return reply is StatusReply status ? status.Status : throw Failure(message.AccountId, reply);
    }

    private async Task<object> AskAsync(IAccountMessage message, CancellationToken cancellationToken, IActorRef? target = null)
    {
        if (!AccountIdRules.IsValid(message.AccountId))
            throw new InvalidAccountCommandException(message.AccountId, AccountIdRules.Description);
        try
        {
            var to = target ?? region.ActorRef;
            return message is GetToken or GetStatus or ReportRejected
                ? await AskResendingAsync(to, message, cancellationToken)
                : await to.Ask<object>(message, _askTimeout, cancellationToken);
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
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            // A failure answered by the account's node in cluster mode (its store is down, it is restarting) crosses the
            // network without its exception: Akka's ask then ends "cancelled by actor via Failure message".
            services.Metrics.TokenRequest("error");
            throw new EngineUnavailableException(message.AccountId, "store unavailable: the account is restarting", e);
        }
    }

    /// <summary>
    /// Asks, and in cluster mode sends the same query again every <see cref="_resendEvery"/> while no answer came, until
    /// the ask timeout: the first answer wins. Only for queries that are safe to repeat (a token, a status, a rejected
    /// token's report — a report about a token already replaced is answered with the current one — and the id list).
    /// A copy sent while the account's node is alive just waits beside the first one; a copy sent after a crash reaches
    /// the account's new home once sharding has found it.
    /// </summary>
    private async Task<object> AskResendingAsync(IActorRef to, object message, CancellationToken cancellationToken)
    {
        if (_resendEvery is not { } every) return await to.Ask<object>(message, _askTimeout, cancellationToken).ConfigureAwait(false);
        using var answered = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var asks = new List<Task<object>>();
        while (true)
        {
            var remaining = _askTimeout - clock.Elapsed;
            if (remaining > TimeSpan.Zero) asks.Add(to.Ask<object>(message, remaining, answered.Token));
            var pending = asks.Where(a => !a.IsCompleted).ToList();
            if (pending.Count == 0 || remaining <= TimeSpan.Zero)
            {
                // Every copy ended: the last one's outcome (a timeout, a cancellation) is the answer.
                return await asks[^1].ConfigureAwait(false);
            }
            var resend = Task.Delay(every < remaining ? every : remaining, answered.Token);
            var first = await Task.WhenAny(pending.Append(resend)).ConfigureAwait(false);
            if (first == resend) continue;
            var ask = (Task<object>)first;
            if (ask.IsFaulted && ask.Exception!.InnerException is AskTimeoutException) continue;
            await answered.CancelAsync().ConfigureAwait(false);
            return await ask.ConfigureAwait(false);
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
