using ActorRefresh.Engine.Accounts;
using Akka.Actor;
using Akka.Event;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Region;

/// <summary>
/// Answers account requests that can no longer be delivered. When an account (or the region) stops because its store
/// failed — a journal write during an outage, or recovery while the database is down — the requests already in its
/// mailbox or held while it was recovering become dead letters, and their callers would wait for the full ask timeout.
/// This actor turns each such request into an immediate <see cref="AccountUnavailableException"/> ("store unavailable"),
/// the same answer the backoff supervisor gives while the account is stopped.
/// </summary>
internal sealed class DeadLetterResponder : ReceiveActor
{
    /// <summary>Starts the responder and subscribes it to the system's dead letters.</summary>
    public static IActorRef Start(ActorSystem system) => DeadLetterResponderStarter.Start(system);

    /// <summary>Name of the actor under /user.</summary>
    public const string Name = "account-dead-letters";

    public DeadLetterResponder()
    {
        Receive<DeadLetter>(d => Answer(d.Message, d.Sender));
    }

    private static void Answer(object message, IActorRef? sender)
    {
        if (sender is null || sender.IsNobody() || sender is DeadLetterActorRef) return;
        if (AnswerFor(message) is { } answer) sender.Tell(answer);
    }

    /// <summary>
    /// The answer a request gets when it cannot be delivered; null for a reply (nobody waits for it) and for anything that
    /// is not an account request. Every account message is a request unless it is one of the replies, so a new request
    /// type is answered without being listed here.
    /// </summary>
    internal static object? AnswerFor(object message) => message switch
    {
        TokenReply or StatusReply or CommandRefused => null,
        // A stopped account has no refresh in flight.
        Drain or DrainAll => Drained.Instance,
        IAccountMessage request => new Status.Failure(new AccountUnavailableException(request.AccountId)),
        ListAccounts => new Status.Failure(new AccountUnavailableException("*")),
        CountAccounts count => new Status.Failure(new AccountUnavailableException(count.AccountId)),
        _ => null,
    };
}

internal static class DeadLetterResponderStarter
{
    public static IActorRef Start(ActorSystem system)
    {
        var responder = system.ActorOf(Props.Create(() => new DeadLetterResponder()), DeadLetterResponder.Name);
        system.EventStream.Subscribe(responder, typeof(DeadLetter));
        return responder;
    }
}
