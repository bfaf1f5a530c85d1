using System.Diagnostics;
using ActorRefresh.Benchmarks.Peers;

namespace ActorRefresh.Benchmarks.Scenarios;

/// <summary>Helpers for timing callers.</summary>
public static class Timing
{
    /// <summary>Milliseconds between two <see cref="Stopwatch"/> timestamps.</summary>
    public static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Waits until the wall clock reaches <paramref name="at"/> (sleep, then spin the last 20 ms).</summary>
    public static async Task UntilAsync(DateTimeOffset at)
    {
        var left = at - DateTimeOffset.UtcNow;
        if (left > TimeSpan.FromMilliseconds(30)) await Task.Delay(left - TimeSpan.FromMilliseconds(20));
        while (DateTimeOffset.UtcNow < at) Thread.SpinWait(50);
    }

    /// <summary>One caller: its latency in ms, whether it got a token, and when it finished (timestamp).</summary>
    public static async Task<(double Ms, bool Ok, long End)> CallAsync(ITokenPeer peer, string id)
    {
        var start = Stopwatch.GetTimestamp();
        var ok = true;
        try
        {
            await peer.GetTokenAsync(id).ConfigureAwait(false);
        }
        catch (Exception)
        {
            ok = false;
        }
        var end = Stopwatch.GetTimestamp();
        return (Ms(start, end), ok, end);
    }
}
