using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Accounts;

/// <summary>Removing an account of <see cref="AccountActor"/>: deleting its stored history and answering once it is gone.</summary>
internal sealed partial class AccountActor
{
    private void HistoryDeletionReplies()
    {
        Command<DeleteMessagesSuccess>(_ => OnHistoryDeleted(events: true, error: null));
        Command<DeleteMessagesFailure>(f => OnHistoryDeleted(events: true, error: "events: " + f.Cause.GetType().Name));
        Command<DeleteSnapshotsSuccess>(_ => OnHistoryDeleted(events: false, error: null));
        Command<DeleteSnapshotsFailure>(f => OnHistoryDeleted(events: false, error: "snapshots: " + f.Cause.GetType().Name));
    }

    /// <summary>A removal waiting for its history to be deleted: who asked, the status before, what is done.</summary>
    private sealed record PendingRemoval(IActorRef ReplyTo, AccountStatus Last)
    {
        public bool EventsDone { get; set; }
        public bool SnapshotsDone { get; set; }
        public List<string> Errors { get; } = [];
    }

    private PendingRemoval? _removal;

    private void OnHistoryDeleted(bool events, string? error)
    {
        if (_removal is not { } removal)
        {
            OnRewrittenHistoryDeleted(events, error);
            return;
        }
        if (events) removal.EventsDone = true;
        else removal.SnapshotsDone = true;
        if (error is not null) removal.Errors.Add(error);
        if (!removal.EventsDone || !removal.SnapshotsDone) return;
        if (removal.Errors.Count == 0)
        {
            // Reply once the file no longer holds the deleted rows' bytes either.
            Persistence.StoreScrub.RunAsync(Context.System.Settings.Config)
                .PipeTo(Self, success: () => new HistoryScrubbed(null), failure: e => new HistoryScrubbed(e.GetType().Name));
            return;
        }
        _removal = null;
        // The account is removed (journaled) but its old, encrypted tokens are still stored: say so rather than claim a clean removal.
        var reason = $"account removed, but deleting its stored history failed ({string.Join(", ", removal.Errors)}): the store still holds its old encrypted tokens";
        _log.Warning("Account {AccountId}: {Reason}.", _accountId, reason);
        removal.ReplyTo.Tell(new CommandRefused(_accountId, reason));
        StopIfUnregistered();
    }
}
