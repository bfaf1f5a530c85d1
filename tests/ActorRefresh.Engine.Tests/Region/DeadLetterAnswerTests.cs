using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Persistence;
using Akka.Actor;

namespace ActorRefresh.Engine.Tests.Region;

/// <summary>
/// A request that becomes a dead letter (its account stopped after a store failure) is answered at once instead of
/// leaving its caller to the ask timeout. Found by reflection: a new request type without an answer fails here.
/// </summary>
public sealed class DeadLetterAnswerTests
{
    /// <summary>The replies of the protocol: nobody waits for them, so an undelivered one needs no answer.</summary>
    private static readonly HashSet<Type> Replies =
    [
        typeof(AccountProtocol.TokenGranted), typeof(AccountProtocol.BackingOff), typeof(AccountProtocol.Blocked),
        typeof(AccountProtocol.NotRegistered), typeof(AccountProtocol.StatusReply), typeof(AccountProtocol.CommandRefused),
        typeof(AccountProtocol.Drained), typeof(AccountProtocol.AccountIds), typeof(AccountProtocol.AccountCount),
    ];

    [Fact]
    public void Every_request_of_the_account_protocol_has_a_dead_letter_answer_and_no_reply_gets_one()
    {
        var types = typeof(AccountProtocol).GetNestedTypes(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
            .Where(t => t is { IsAbstract: false, IsInterface: false })
            .ToList();
        Assert.True(types.Count >= 20, $"only {types.Count} protocol types found");
        var missing = types.Where(t => !Replies.Contains(t) && DeadLetterResponder.AnswerFor(SampleValues.Of(t)) is null).Select(t => t.Name).ToList();
        Assert.True(missing.Count == 0, "requests without a dead-letter answer: " + string.Join(", ", missing));
        var answeredReplies = Replies.Where(t => DeadLetterResponder.AnswerFor(SampleValues.Of(t)) is not null).Select(t => t.Name).ToList();
        Assert.True(answeredReplies.Count == 0, "replies answered as if they were requests: " + string.Join(", ", answeredReplies));
    }

    [Fact]
    public void A_usage_report_and_a_count_are_answered_unavailable_and_a_drain_as_drained()
    {
        var usage = Assert.IsType<Status.Failure>(DeadLetterResponder.AnswerFor(new AccountProtocol.ReportUsage("a1", 429, [])));
        Assert.Equal("a1", Assert.IsType<AccountUnavailableException>(usage.Cause).AccountId);
        Assert.IsType<AccountUnavailableException>(Assert.IsType<Status.Failure>(DeadLetterResponder.AnswerFor(new AccountProtocol.CountAccounts("a1"))).Cause);
        Assert.Same(AccountProtocol.Drained.Instance, DeadLetterResponder.AnswerFor(new AccountProtocol.Drain("a1")));
    }
}
