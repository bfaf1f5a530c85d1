using System.Collections.Concurrent;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Hosting;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// An in-memory engine (<see cref="ITokenProvider"/>, <see cref="IAccountAdmin"/>, <see cref="IAccountPools"/>) with the engine's observable behaviour (states, typed
/// failures, rejected-token rule) and switches for the failures the API must map.
/// </summary>
internal sealed class InMemoryTokenProvider(TimeProvider time) : ITokenProvider, IAccountAdmin, IAccountPools
{
    private readonly ConcurrentDictionary<string, Account> _accounts = new(StringComparer.Ordinal);
    private int _minted;

    public static readonly string[] Providers = ["claude", "generic"];

    /// <summary>When set, every call fails as an unavailable engine.</summary>
    public bool EngineDown { get; set; }

    /// <summary>When set, GetTokenAsync throws it: a failure the API has no mapping for.</summary>
    public Exception? UnexpectedFailure { get; set; }

    /// <summary>When set, ListAsync waits for it (readiness tests) and ignores cancellation, as a stuck engine would.</summary>
    public Task? ListGate { get; set; }

    public ConcurrentQueue<(string AccountId, string AccessToken)> RejectedReports { get; } = new();

    public ConcurrentQueue<AccountCredentials> Replaced { get; } = new();

    public AccountCredentials? CredentialsOf(string id) => _accounts.TryGetValue(id, out var a) ? a.Credentials : null;

    public void SetBackingOff(string id, DateTimeOffset retryAt, string reason) => Update(id, a =>
    {
        a.State = AccountState.BackingOff;
        a.RetryAt = retryAt;
        a.LastErrorClass = "rate_limited";
        a.LastError = reason;
        a.AccessToken = null;
    });

    public void SetAccessToken(string id, string token, DateTimeOffset expiresAt) => Update(id, a =>
    {
        a.AccessToken = new Secret(token);
        a.ExpiresAt = expiresAt;
    });

    public void SetLastError(string id, string errorClass, string error) => Update(id, a =>
    {
        a.LastErrorClass = errorClass;
        a.LastError = error;
    });

    /// <summary>Puts an account in <paramref name="state"/> as the engine would show it mid-refresh (the page's view of it).</summary>
    public void SetState(string id, AccountState state) => Update(id, a => a.State = state);

    public void SetUsage(string id, AccountUsage? usage) => Update(id, a => a.Usage = usage);

    public ValueTask<AccessToken> GetTokenAsync(string accountId, CancellationToken cancellationToken = default)
    {
        if (UnexpectedFailure is { } failure)
            throw failure;
        var account = Find(accountId);
        lock (account)
        {
            switch (account.State)
            {
                case AccountState.BackingOff:
                    throw new TokenBackingOffException(accountId, account.RetryAt!.Value, account.LastError ?? "backing off");
                case AccountState.PolicyBlocked:
                    throw new AccountBlockedException(accountId, account.LastError ?? "blocked");
            }
            if (account.AccessToken is null)
                Rotate(account);
            return ValueTask.FromResult(new AccessToken(account.AccessToken!, account.ExpiresAt!.Value));
        }
    }

    public Task ReportRejectedAsync(string accountId, string accessToken, CancellationToken cancellationToken = default)
    {
        var account = Find(accountId);
        RejectedReports.Enqueue((accountId, accessToken));
        lock (account)
        {
            // Only a report about the current token triggers a refresh (design: stale reports change nothing).
            if (account.AccessToken is not null && account.AccessToken.Reveal() == accessToken)
                Rotate(account);
        }
        return Task.CompletedTask;
    }

    public Task<AccountStatus> RegisterAsync(AccountCredentials credentials, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(credentials.AccountId);
        credentials = Validate(credentials);
        var account = new Account(credentials)
        {
            AccessToken = credentials.AccessToken,
            ExpiresAt = credentials.ExpiresAt,
        };
        if (!_accounts.TryAdd(credentials.AccountId, account))
            throw new InvalidAccountCommandException(credentials.AccountId, $"Account '{credentials.AccountId}' is already registered.");
        return Task.FromResult(Status(account));
    }

    public Task<AccountStatus> ReplaceCredentialsAsync(AccountCredentials credentials, CancellationToken cancellationToken = default)
    {
        credentials = Validate(credentials);
        Replaced.Enqueue(credentials);
        return Task.FromResult(Update(credentials.AccountId, a =>
        {
            a.Credentials = credentials;
            a.AccessToken = credentials.AccessToken;
            a.ExpiresAt = credentials.ExpiresAt;
            a.State = AccountState.Valid;
            a.RetryAt = null;
            a.LastError = a.LastErrorClass = null;
        }));
    }

    public Task<AccountStatus> UnblockAsync(string accountId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Update(accountId, a =>
        {
            a.State = AccountState.Valid;
            a.RetryAt = null;
            a.LastError = a.LastErrorClass = null;
        }));

    public Task<AccountStatus> BlockAsync(string accountId, string reason, CancellationToken cancellationToken = default) =>
        Task.FromResult(Update(accountId, a =>
        {
            a.State = AccountState.PolicyBlocked;
            a.LastErrorClass = "operator"; // as the engine (ErrorClasses.Operator)
            a.LastError = reason;
        }));

    public Task<AccountStatus> ForceRefreshAsync(string accountId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Update(accountId, a =>
        {
            if (a.State == AccountState.Valid)
                Rotate(a);
        }));

    public Task RemoveAsync(string accountId, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(accountId);
        return _accounts.TryRemove(accountId, out _) ? Task.CompletedTask : throw new AccountNotFoundException(accountId);
    }

    public Task<AccountStatus> GetStatusAsync(string accountId, CancellationToken cancellationToken = default)
    {
        var account = Find(accountId);
        lock (account)
            return Task.FromResult(Status(account));
    }

    /// <summary>How many times the accounts were listed.</summary>
    public int ListCalls => _listCalls;

    private int _listCalls;

    Task<(int Count, bool Includes)> IAccountAdmin.CountAccountsAsync(string accountId, CancellationToken cancellationToken)
    {
        ThrowIfDown("*");
        return Task.FromResult((_accounts.Count, _accounts.ContainsKey(accountId)));
    }

    public async Task<IReadOnlyList<AccountStatus>> ListAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _listCalls);
        ThrowIfDown("*");
        if (ListGate is { } gate)
            await gate.ConfigureAwait(false);
        return _accounts.Values.Select(a => { lock (a) return Status(a); }).ToList();
    }

    private void Rotate(Account account)
    {
        var n = Interlocked.Increment(ref _minted);
        account.AccessToken = new Secret($"sk-ant-oat01-minted{n}-{account.Credentials.AccountId.Replace('@', '_')}");
        account.ExpiresAt = time.GetUtcNow().AddHours(8);
        account.Version++;
    }

    // As the engine: an access token that has already expired is dropped; the account starts from the refresh token.
    private AccountCredentials Validate(AccountCredentials credentials)
    {
        if (!Providers.Contains(credentials.Provider))
            throw new InvalidAccountCommandException(credentials.AccountId, $"Unknown provider '{credentials.Provider}'.");
        return credentials.ExpiresAt is { } e && e <= time.GetUtcNow() ? credentials with { AccessToken = null, ExpiresAt = null } : credentials;
    }

    private Account Find(string accountId)
    {
        ThrowIfDown(accountId);
        return _accounts.TryGetValue(accountId, out var account) ? account : throw new AccountNotFoundException(accountId);
    }

    private AccountStatus Update(string accountId, Action<Account> change)
    {
        var account = Find(accountId);
        lock (account)
        {
            change(account);
            account.Version++;
            return Status(account);
        }
    }

    private void ThrowIfDown(string accountId)
    {
        if (EngineDown)
            throw new EngineUnavailableException(accountId, "the journal did not answer in time");
    }

    private static AccountStatus Status(Account a) => new(
        a.Credentials.AccountId, a.Credentials.Provider, a.State, a.AccessToken is null ? null : a.ExpiresAt,
        a.State == AccountState.Valid && a.ExpiresAt is { } e ? e.AddMinutes(-5) : null,
        a.RetryAt, a.LastErrorClass, a.LastError, false, AccountCounters.Zero, a.Version, a.Usage)
    {
        GrantExpiresAt = a.Credentials.GrantExpiresAt,
    };

    private sealed class Account(AccountCredentials credentials)
    {
        public AccountCredentials Credentials { get; set; } = credentials;
        public AccountState State { get; set; } = AccountState.Valid;
        public Secret? AccessToken { get; set; }
        public DateTimeOffset? ExpiresAt { get; set; }
        public DateTimeOffset? RetryAt { get; set; }
        public string? LastErrorClass { get; set; }
        public string? LastError { get; set; }
        public long Version { get; set; }
        public AccountUsage? Usage { get; set; }
    }

    // ---- pools: a scripted stand-in; the selection rules are the engine's and tested there ----------------

    private readonly ConcurrentDictionary<string, PoolDefinition> _pools = new(StringComparer.Ordinal);

    /// <summary>What the next lease of a pool answers: a lease, or an exception to throw.</summary>
    public ConcurrentDictionary<string, Func<AccountLease>> Leases { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<(string AccountId, int StatusCode)> UsageReports { get; } = new();

    /// <summary>The headers of each usage report, in order.</summary>
    public ConcurrentQueue<IReadOnlyList<KeyValuePair<string, string>>> UsageReportHeaders { get; } = new();

    /// <summary>What <see cref="GetPoolAsync"/> answers for a pool instead of "every member usable".</summary>
    public ConcurrentDictionary<string, PoolStatus> PoolStatuses { get; } = new(StringComparer.Ordinal);

    public ValueTask<AccountLease> LeaseAsync(string pool, CancellationToken cancellationToken = default) =>
        Leases.TryGetValue(pool, out var lease) ? ValueTask.FromResult(lease()) : throw new PoolNotFoundException(pool);

    public Task<PoolStatus> GetPoolAsync(string pool, CancellationToken cancellationToken = default) =>
        PoolStatuses.TryGetValue(pool, out var scripted) && _pools.ContainsKey(pool) ? Task.FromResult(scripted)
        : _pools.TryGetValue(pool, out var definition)
            ? Task.FromResult(new PoolStatus(definition.Name, definition.Strategy, definition.MaxUtilisation,
                definition.Accounts.Select(id => new PoolMember(id, _accounts.TryGetValue(id, out var a) ? a.State : null, 0, true, null, null, null)).ToList(), null))
            : Task.FromException<PoolStatus>(new PoolNotFoundException(pool));

    public IReadOnlyList<PoolDefinition> ListPools() => _pools.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();

    public PoolDefinition DefinePool(PoolDefinition definition)
    {
        var errors = definition.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(definition));
        return _pools[definition.Name] = definition with { Accounts = definition.Accounts.ToArray() };
    }

    public bool RemovePool(string pool) => _pools.TryRemove(pool, out _);

    public Task<AccountStatus> ReportUsageAsync(string accountId, int statusCode, IEnumerable<KeyValuePair<string, string>> headers, CancellationToken cancellationToken = default)
    {
        UsageReports.Enqueue((accountId, statusCode));
        UsageReportHeaders.Enqueue(headers.ToList());
        return GetStatusAsync(accountId, cancellationToken);
    }
}
