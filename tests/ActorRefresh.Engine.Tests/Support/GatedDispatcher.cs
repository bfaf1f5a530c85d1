using Akka.Configuration;
using Akka.Dispatch;

namespace ActorRefresh.Engine.Tests.Support;

/// <summary>
/// A dispatcher a test can close: while closed, the mailboxes of the actors deployed on it are not run, so messages (a
/// limiter's answer, say) wait in them and a stop can overtake them. Opening runs what waited (system messages such as
/// the stop first, as every mailbox does). Deploy an actor on it with HOCON <c>akka.actor.deployment</c>.
/// </summary>
public sealed class GatedDispatcher : MessageDispatcher
{
    private readonly Lock _gate = new();
    private readonly Queue<IRunnable> _held = new();
    private bool _closed;

    internal GatedDispatcher(MessageDispatcherConfigurator configurator) : base(configurator) { }

    /// <summary>HOCON of a gated dispatcher named <paramref name="id"/>, deployed for the actor at <paramref name="path"/> (below /user).</summary>
    public static string Hocon(string id, string path) => $$"""
        {{id}} {
          type = "{{typeof(GatedDispatcherConfigurator).AssemblyQualifiedName}}"
          throughput = 10
        }
        akka.actor.deployment { "{{path}}" { dispatcher = {{id}} } }
        """;

    /// <summary>Stops running mailboxes until <see cref="Open"/>.</summary>
    public void Close()
    {
        lock (_gate) _closed = true;
    }

    /// <summary>Runs every mailbox that waited and lets further ones run at once.</summary>
    public void Open()
    {
        IRunnable[] held;
        lock (_gate)
        {
            _closed = false;
            held = [.. _held];
            _held.Clear();
        }
        foreach (var run in held) ThreadPool.QueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
    }

    /// <inheritdoc />
    protected override void ExecuteTask(IRunnable run)
    {
        lock (_gate)
        {
            if (_closed)
            {
                _held.Enqueue(run);
                return;
            }
        }
        ThreadPool.QueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
    }

    /// <inheritdoc />
    protected override void Shutdown() { }
}

/// <summary>Creates the one <see cref="GatedDispatcher"/> of its configuration id (Akka instantiates it by type name).</summary>
public sealed class GatedDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly GatedDispatcher _instance;

    /// <summary>Called by Akka with the dispatcher's configuration.</summary>
    public GatedDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites) =>
        _instance = new GatedDispatcher(this);

    /// <inheritdoc />
    public override MessageDispatcher Dispatcher() => _instance;
}
