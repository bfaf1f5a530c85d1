namespace ActorRefresh.Host.Tests;

/// <summary>
/// A server's log lines in memory, safe to read while the server writes: the server gets <see cref="Writer"/>
/// (<see cref="TextWriter.Synchronized"/>, which locks itself for each call), and reading takes the same lock. A plain
/// <see cref="StringWriter"/> read during a write can throw from <c>StringBuilder.ToString</c>.
/// </summary>
internal sealed class LogBuffer : StringWriter
{
    public LogBuffer() => Writer = Synchronized(this);

    /// <summary>What the server writes to.</summary>
    public TextWriter Writer { get; }

    public override string ToString()
    {
        lock (Writer)
            return base.ToString();
    }
}
