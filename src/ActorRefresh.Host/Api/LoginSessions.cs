using System.Collections.Concurrent;
using System.Security.Cryptography;
using ActorRefresh.Core.Login;
using ActorRefresh.Core.Providers;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Logins started and not yet completed: in memory, single use, 10 minutes each (or the device code's life when shorter),
/// at most 100 at a time. A device login's poll runs here, on the injected clock, and ends with its login.
/// </summary>
internal sealed class LoginSessions(TimeProvider time) : IDisposable
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);
    public const int MaxPending = 100;
    private readonly ConcurrentDictionary<string, PendingLogin> _pending = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Makes room for one more login, or throws <see cref="LimitReachedException"/>.</summary>
    public void EnsureRoom()
    {
        var now = time.GetUtcNow();
        foreach (var (id, login) in _pending)
            if (login.ExpiresAt <= now && _pending.TryRemove(id, out var gone)) gone.Cancel();
        if (_pending.Count >= MaxPending)
            throw new LimitReachedException($"{MaxPending} logins are waiting to be completed; complete or let them expire (10 minutes) first.");
    }

    public PendingLogin Start(string accountId, ProviderProfile provider, Uri? redirectUri = null)
    {
        EnsureRoom();
        var pending = new PendingLogin(NewId(), accountId, provider.Name, AuthorizationCodeLogin.Start(provider, redirectUri), null, null,
            time.GetUtcNow() + Lifetime, null);
        _pending[pending.LoginId] = pending;
        return pending;
    }

    /// <summary>Starts a device login whose <paramref name="poll"/> (polling, then registering) runs until it ends or the login expires.</summary>
    public PendingLogin StartDevice(string accountId, string provider, DeviceAuthorization device, Func<CancellationToken, Task<DeviceLoginResult>> poll)
    {
        EnsureRoom();
        var expiresAt = device.ExpiresAt < time.GetUtcNow() + Lifetime ? device.ExpiresAt : time.GetUtcNow() + Lifetime;
        // A backstop on the same clock: the poll itself stops at the device code's expiry.
        var expiry = new CancellationTokenSource(expiresAt - time.GetUtcNow() + TimeSpan.FromSeconds(1), time);
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, expiry.Token);
        var task = Task.Run(async () =>
        {
            try
            {
                return await poll(cancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return new DeviceLoginResult(null, "the login expired before the user approved it; start another");
            }
        });
        var pending = new PendingLogin(NewId(), accountId, provider, null, device, task, expiresAt, cancel);
        _pending[pending.LoginId] = pending;
        return pending;
    }

    /// <summary>Removes and returns a login that has not expired; null when unknown, used or expired.</summary>
    public PendingLogin? Take(string loginId)
    {
        if (!_pending.TryRemove(loginId, out var login)) return null;
        if (login.ExpiresAt > time.GetUtcNow()) return login;
        login.Cancel();
        return null;
    }

    /// <summary>A login still waiting, without taking it (a device login is taken only when it has ended).</summary>
    public PendingLogin? Peek(string loginId) =>
        _pending.TryGetValue(loginId, out var login) && login.ExpiresAt > time.GetUtcNow() ? login : null;

    /// <summary>Removes <paramref name="login"/>; false when another caller removed it first (its end is answered once).</summary>
    public bool Remove(PendingLogin login) => _pending.TryRemove(new KeyValuePair<string, PendingLogin>(login.LoginId, login));

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}

/// <summary>One started login; the verifier and the device code never leave the server.</summary>
internal sealed record PendingLogin(string LoginId, string AccountId, string Provider, LoginStart? Start, DeviceAuthorization? Device,
    Task<DeviceLoginResult>? Poll, DateTimeOffset ExpiresAt, CancellationTokenSource? PollCancel)
{
    public void Cancel()
    {
        try
        {
            PollCancel?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already ended.
        }
    }
}

/// <summary>How a device login ended: the account's status, or why not.</summary>
internal sealed record DeviceLoginResult(AccountStatus? Status, string? Failure);
