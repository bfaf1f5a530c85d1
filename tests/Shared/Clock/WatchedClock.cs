using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Testing;

/// <summary>
/// A fake clock that reports every timer created on it (a <c>Task.Delay</c>, a timed cancellation), so a test knows what
/// the code under test waits for before it moves time: no race between the test's <c>Advance</c> and the wait it means.
/// </summary>
internal sealed class WatchedClock(DateTimeOffset start) : FakeTimeProvider(start)
{
    private static readonly TimeSpan PatienceForTheCode = TimeSpan.FromSeconds(30);
    private readonly Channel<TimeSpan> _created = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        _created.Writer.TryWrite(dueTime);
        return base.CreateTimer(callback, state, dueTime, period);
    }

    /// <summary>The due time of the next timer created that <paramref name="counts"/>; others are passed over.</summary>
    public async Task<TimeSpan> NextTimerAsync(Func<TimeSpan, bool> counts)
    {
        using var patience = new CancellationTokenSource(PatienceForTheCode);
        while (true)
        {
            var due = await _created.Reader.ReadAsync(patience.Token);
            if (counts(due)) return due;
        }
    }

    /// <summary>Waits until a timer of <paramref name="due"/> is created (passing over others).</summary>
    public Task WaitForTimerAsync(TimeSpan due) => NextTimerAsync(d => d == due);

    /// <summary>True when a timer that <paramref name="counts"/> was created and not yet looked at.</summary>
    public bool HasUnseenTimer(Func<TimeSpan, bool> counts)
    {
        while (_created.Reader.TryRead(out var due))
            if (counts(due)) return true;
        return false;
    }
}
