namespace ActorRefresh.Host.Tests;

/// <summary>What the CLI printed, with a way to wait for a line.</summary>
internal sealed class PrintedLines : StringWriter
{
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiting = [];
    private readonly List<string> _lines = [];

    public override void WriteLine(string? value)
    {
        base.WriteLine(value);
        lock (_lines)
        {
            _lines.Add(value ?? "");
            foreach (var waiter in _waiting.Where(w => w.Match(value ?? "")).ToList())
            {
                _waiting.Remove(waiter);
                waiter.Found.TrySetResult(value!);
            }
        }
    }

    public Task<string> LineAsync(Func<string, bool> match)
    {
        lock (_lines)
        {
            if (_lines.FirstOrDefault(match) is { } line) return Task.FromResult(line);
            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((match, found));
            return found.Task.WaitAsync(TimeSpan.FromMinutes(1));
        }
    }
}
