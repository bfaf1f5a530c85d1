using ActorRefresh.Testing;
using System.Text.Json;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>
/// Polling for the cluster tests: real processes on real time, so a condition is asked again until it holds or a bound
/// passes. A node that is down, starting or answering garbage counts as "not yet".
/// </summary>
internal static class ClusterWait
{
    /// <summary>True once <paramref name="condition"/> holds, false when <paramref name="timeout"/> passes first.</summary>
    public static async Task<bool> WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await condition()) return true;
            }
            catch (Exception e) when (ClusterNode.IsNoAnswer(e) || e is JsonException or AggregateException)
            {
                // Not yet.
            }
            await Task.Delay(50);
        }
        return false;
    }

    /// <summary>Fails the test unless <paramref name="condition"/> holds within <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout) =>
        Assert.True(await WaitForAsync(() => Task.FromResult(condition()), timeout), "condition not met in time");
}
