using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Hosting.Notifications;

/// <summary>The notices about accounts hosted on this node, for webhooks, server-sent events and host code.</summary>
public interface IAccountNotices
{
    /// <summary>
    /// The notices raised from now on, until <paramref name="cancellationToken"/> is cancelled. A subscriber that falls
    /// more than 1,000 notices behind loses the oldest ones.
    /// </summary>
    IAsyncEnumerable<AccountNotice> SubscribeAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Turns the statuses accounts publish on this node into <see cref="AccountNotice"/>s and hands each to every
/// subscriber. Runs on the publishing account's thread, so it only queues: a slow subscriber never slows an account.
/// Notices are raised where the account is hosted and are not durable: a notice in a node's queue when the node dies is
/// lost, and the first status a node sees of an account raises none (a restart or a move does not repeat old news).
/// </summary>
internal sealed class AccountNoticeHub(EngineServices services, IOptions<NotificationOptions> options) : IAccountNotices, IHostedService
{
    private const int SubscriberCapacity = 1000;
    private readonly ConcurrentDictionary<Channel<AccountNotice>, byte> _subscribers = new();
    // Accounts about which trouble was noticed since they were last healthy: only those get a healthy notice.
    private readonly ConcurrentDictionary<string, byte> _troubled = new(StringComparer.Ordinal);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        services.ReadSide.StatusPublished += OnStatus;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        services.ReadSide.StatusPublished -= OnStatus;
        foreach (var subscriber in _subscribers.Keys) subscriber.Writer.TryComplete();
        return Task.CompletedTask;
    }

    /// <remarks>The subscription starts when this is called, not when enumeration starts, so a caller can say "subscribed"
    /// before the first notice; it ends when enumeration ends or <paramref name="cancellationToken"/> is cancelled.</remarks>
    public IAsyncEnumerable<AccountNotice> SubscribeAsync(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<AccountNotice>(new BoundedChannelOptions(SubscriberCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        _subscribers[channel] = 0;
        var registration = cancellationToken.Register(() => _subscribers.TryRemove(channel, out _));
        return ReadAsync(channel, registration, cancellationToken);
    }

    private async IAsyncEnumerable<AccountNotice> ReadAsync(Channel<AccountNotice> channel, CancellationTokenRegistration registration,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var notice in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return notice;
        }
        finally
        {
            _subscribers.TryRemove(channel, out _);
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void OnStatus(AccountStatus? previous, AccountStatus current)
    {
        var notices = AccountNoticeRules.Between(previous, current, _troubled.ContainsKey(current.AccountId),
            options.Value.LongBackoff, services.Options.UtilisationThreshold, services.Time.GetUtcNow());
        foreach (var notice in notices)
        {
            if (AccountNoticeRules.IsTrouble(notice)) _troubled[notice.AccountId] = 0;
            else if (notice.Kind == AccountNoticeKinds.Healthy) _troubled.TryRemove(notice.AccountId, out _);
            foreach (var subscriber in _subscribers.Keys) subscriber.Writer.TryWrite(notice);
        }
    }
}
