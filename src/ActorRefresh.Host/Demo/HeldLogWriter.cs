using System.Text;

namespace ActorRefresh.Host.Demo;

/// <summary>
/// A log writer that holds what is written until <see cref="Release"/>, then writes it (and everything after) to the
/// real writer: while the demo's live table redraws the terminal, log lines would tear it, so they are shown under it
/// once it stops. At most <see cref="Capacity"/> characters are held; the oldest beyond that are dropped and counted.
/// </summary>
internal sealed class HeldLogWriter(TextWriter target) : TextWriter
{
    public const int Capacity = 1 << 20;
    private readonly Lock _gate = new();
    private readonly StringBuilder _held = new();
    private long _dropped;
    private bool _released;

    public override Encoding Encoding => target.Encoding;

    public override void Write(char value) => Write(value.ToString());

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void Write(string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        lock (_gate)
        {
            if (_released)
            {
                target.Write(value);
                return;
            }
            _held.Append(value);
            if (_held.Length > Capacity)
            {
                var excess = _held.Length - Capacity;
                _held.Remove(0, excess);
                _dropped += excess;
            }
        }
    }

    /// <summary>Writes what was held and passes everything after straight through.</summary>
    public void Release()
    {
        lock (_gate)
        {
            if (_released) return;
            _released = true;
            if (_dropped > 0) target.WriteLine($"({_dropped} characters of earlier log output dropped while the table ran)");
            target.Write(_held.ToString());
            _held.Clear();
            target.Flush();
        }
    }

    public override void Flush()
    {
        lock (_gate)
            if (_released) target.Flush();
    }
}
