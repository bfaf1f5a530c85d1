using ActorRefresh.Engine.Persistence;
using Akka.Event;
using Akka.Persistence;

namespace ActorRefresh.Engine.Accounts;

/// <summary>
/// Rewriting an account's history under the current encryption key (key rotation, older formats) of <see cref="AccountActor"/>.
/// </summary>
internal sealed partial class AccountActor
{
    // A recovered token event was written before ciphertexts were bound to their account (v1:/v2:).
    private bool _staleHistory;

    // Sequence number of the snapshot that rewrites the history; the events and snapshots before it are deleted once it is saved.
    private long? _rewriteAt;
    private bool _rewriteEventsDeleted;
    private bool _rewriteSnapshotsDeleted;

    /// <summary>
    /// Whether the recovery read a token field under a previous key (<c>ActorRefresh:Storage:PreviousEncryptionKeys</c>)
    /// or in an older format. Always asks the serializer, so its mark for this account is cleared.
    /// </summary>
    private bool RecoveredStaleHistory()
    {
        var serializer = Context.System.Serialization.FindSerializerForType(typeof(AccountData)) as AccountEventSerializer;
        var marked = serializer?.TakeStale(_accountId) ?? false;
        return (marked || _staleHistory) && _data.IsRegistered;
    }

    /// <summary>
    /// Journals a tokenless <see cref="HistoryRewritten"/>, saves a snapshot (serialized under the current key) and then
    /// deletes every event up to it and every older snapshot, so nothing of the account stays under a previous key and
    /// the operator can drop that key (<c>actor-refresh storage-keys</c> counts what is left). A failure leaves the old rows,
    /// still readable with the key ring, and the next start tries again.
    /// </summary>
    private void RewriteHistory()
    {
        _log.Info("Account {AccountId}: its stored history holds tokens under a previous encryption key or an older format; rewriting it under the current key.", _accountId);
        Persist(new HistoryRewritten(Now), e =>
        {
            _data = _data.Apply(e);
            _snapshotSequenceNr = LastSequenceNr;
            _rewriteAt = LastSequenceNr;
            _rewriteEventsDeleted = _rewriteSnapshotsDeleted = false;
            SaveSnapshot(_data);
        });
    }

    private void OnSnapshotSaved(SaveSnapshotSuccess saved)
    {
        if (_rewriteAt is not { } at || saved.Metadata.SequenceNr != at) return;
        DeleteMessages(at);
        DeleteSnapshots(new SnapshotSelectionCriteria(at - 1, DateTime.MaxValue));
    }

    private void OnRewrittenHistoryDeleted(bool events, string? error)
    {
        if (_rewriteAt is null) return;
        if (error is not null)
        {
            _log.Warning("Account {AccountId}: deleting its history before the rewrite failed ({Error}); the old rows stay (readable with the previous key) until the next start.", _accountId, error);
            _rewriteAt = null;
            return;
        }
        if (events) _rewriteEventsDeleted = true;
        else _rewriteSnapshotsDeleted = true;
        if (!_rewriteEventsDeleted || !_rewriteSnapshotsDeleted) return;
        _rewriteAt = null;
        _log.Info("Account {AccountId}: history rewritten under the current encryption key.", _accountId);
    }
}
