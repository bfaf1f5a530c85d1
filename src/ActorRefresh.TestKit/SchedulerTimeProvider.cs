using Akka.Actor;

namespace ActorRefresh.TestKit;

/// <summary>
/// A <see cref="TimeProvider"/> reading Akka's scheduler clock. With Akka.TestKit's <c>TestScheduler</c> this puts the
/// engine's "now", its timers and anything else given this provider (a <see cref="FakeTokenServer"/>, say) on one
/// virtual clock that a test advances: register it as the host's <see cref="TimeProvider"/>.
/// </summary>
/// <param name="scheduler">The actor system's scheduler (<c>Sys.Scheduler</c> in a TestKit test).</param>
public sealed class SchedulerTimeProvider(IScheduler scheduler) : TimeProvider
{
    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => scheduler.Now.ToUniversalTime();
}
