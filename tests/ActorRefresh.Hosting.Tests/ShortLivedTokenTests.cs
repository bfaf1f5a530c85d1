using System.Diagnostics;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.TestKit;
using Xunit.Abstractions;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// A provider whose tokens live a few seconds, over real HTTP on loopback and real time, with many callers asking
/// through <see cref="ITokenProvider"/> and every engine setting at its default.
/// </summary>
[Collection(HostCollection.Name)]
public sealed class ShortLivedTokenTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(15);
    private const int Callers = 64;

    [Fact]
    public async Task Three_second_tokens_are_served_to_every_caller_and_refreshed_once_per_token()
    {
        // Found by review: with the default RefreshLead of 5 minutes every such token was past its refresh point on
        // arrival: the account refreshed at the limiter's full rate and callers got 503.
        var server = await FakeTokenServer.StartAsync(new FakeTokenServerOptions { AccessTokenLifetime = Lifetime });
        await using var engine = await HostedEngine.StartAsync(server);
        var tokens = server.CreateAccount("short");
        // Registered with its refresh token only (the first access token may expire while the host starts): the first
        // request refreshes, and from then on the engine knows the lifetime the provider grants.
        await engine.Accounts.RegisterAsync(new AccountCredentials("short", "claude", new Secret(tokens.RefreshToken)));
        var first = await engine.Tokens.GetTokenAsync("short");
        Assert.Equal(1, server.RefreshCalls("short"));
        var callsBefore = server.RefreshCalls("short");

        var answers = 0L;
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        var callers = Enumerable.Range(0, Callers).Select(async _ =>
        {
            while (clock.Elapsed < Window)
            {
                try
                {
                    var token = await engine.Tokens.GetTokenAsync("short");
                    if (token.ExpiresAt <= DateTimeOffset.UtcNow)
                        lock (failures) failures.Add($"expired token served at {clock.Elapsed}");
                    Interlocked.Increment(ref answers);
                }
                catch (Exception ex)
                {
                    lock (failures) failures.Add($"{ex.GetType().Name} at {clock.Elapsed}: {ex.Message}");
                }
                await Task.Delay(5);
            }
        }).ToArray();
        await Task.WhenAll(callers);
        var refreshes = server.RefreshCalls("short") - callsBefore;

        // Lead = min(5 min, 3 s / 4) = 0.75 s, jitter scaled alike = 0.3 s: each token is refreshed between 2.25 s and
        // 1.95 s after it was issued. Over the window that is 6.7 to 7.7 refreshes; the range allows one more at the edge
        // and up to 0.35 s per refresh of timer and scheduling delay on a loaded machine (2.6 s).
        var fewest = (int)Math.Floor(Window / TimeSpan.FromSeconds(2.6));
        var most = (int)Math.Ceiling(Window / TimeSpan.FromSeconds(1.95)) + 1;
        output.WriteLine($"{answers} answers from {Callers} callers in {Window}; {refreshes} refreshes (expected {fewest}..{most}); {failures.Count} failures");
        Assert.Empty(failures.Take(5));
        Assert.True(answers > Callers * 10, $"only {answers} answers");
        Assert.InRange(refreshes, fewest, most);
        Assert.Equal(0, server.RefreshTokenReuse);
        Assert.Equal(0, server.OverlappingRefreshes);
        Assert.NotEqual(first.Value.Reveal(), (await engine.Tokens.GetTokenAsync("short")).Value.Reveal());
        // Tokens of 3 s are refreshed every 2 s: at any instant the account may be in the middle of one. What it must not
        // be is backing off or blocked.
        Assert.Contains((await engine.Accounts.GetStatusAsync("short")).State, new[] { AccountState.Valid, AccountState.Refreshing });
    }
}
