using Akka.Actor;

namespace ActorRefresh.Engine.Time;

/// <summary>
/// A <see cref="TimeProvider"/> reading Akka's scheduler clock. With Akka's TestScheduler this puts the
/// engine's "now", its timers and anything else given this provider (e.g. a fake token server) on one
/// virtual clock that a test advances.
/// </summary>
internal sealed class SchedulerTimeProvider(IScheduler scheduler) : TimeProvider
{
    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => scheduler.Now.ToUniversalTime();
}
