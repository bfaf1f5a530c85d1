using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Tests.Support;
using ActorRefresh.TestKit;
using Xunit.Abstractions;
using static ActorRefresh.Engine.Accounts.AccountProtocol;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>A provider's long Retry-After is obeyed as given (up to a day) and said once.</summary>
public sealed class LongRetryAfterTests(ITestOutputHelper output) : EngineTest(output)
{
    [Fact]
    public async Task A_three_hour_retry_after_is_obeyed_and_logged_once()
    {
        // Found by review: a Retry-After above an hour was lowered to the hour, so the engine called two hours early.
        await RegisterAsync("a1", lifetime: TimeSpan.FromSeconds(10));
        Server.Script("a1", FakeFault.RateLimited(TimeSpan.FromHours(3)));
        var start = Time.GetUtcNow();

        await EventFilter.Warning(contains: "asked to wait").ExpectOneAsync(async () =>
        {
            var backoff = Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
            Assert.Equal(start.AddHours(3), backoff.Until);
            // Callers meeting the wait get it at once and add no log line.
            for (var i = 0; i < 20; i++)
                Assert.Equal(backoff.Until, Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1"))).Until);
        });

        AdvanceInSteps(TimeSpan.FromMinutes(170), TimeSpan.FromMinutes(10));
        Advance(start.AddHours(3) - TimeSpan.FromSeconds(1) - Time.GetUtcNow());
        Assert.IsType<AccountProtocol.BackingOff>(await AskAsync(new GetToken("a1")));
        Assert.Equal(1, Server.RefreshCalls("a1"));

        Advance(start.AddHours(3) - Time.GetUtcNow());
        await AwaitAssertAsync(() => Assert.Equal(2, Server.RefreshCalls("a1")), Wait);
        Assert.Equal(Server.Current("a1").AccessToken, (await TokenAsync("a1")).Value.Reveal());
        Assert.Equal(0, Server.CallsDuringBackoff);
    }
}
