using System.Collections.Concurrent;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// The engine's log lines reach <c>Microsoft.Extensions.Logging</c> as message templates with named properties, so a
/// structured sink (Serilog, OpenTelemetry logs, Seq) can filter by account instead of parsing text.
/// </summary>
[Collection(HostCollection.Name)]
public sealed class StructuredLogTests
{
    [Fact]
    public async Task An_account_log_line_carries_the_account_id_as_a_named_property()
    {
        var sink = new CapturingLoggerProvider();
        var server = await FakeTokenServer.StartAsync();
        await using var engine = await HostedEngine.StartAsync(server, services: s => s.AddLogging(l => l.AddProvider(sink)));
        var tokens = server.CreateAccount("structured-1");
        server.SetPersistentFault("structured-1", FakeFault.InvalidGrant());
        await engine.Accounts.RegisterAsync(new AccountCredentials("structured-1", "claude", new Secret(tokens.RefreshToken)));
        await Assert.ThrowsAsync<AccountBlockedException>(async () => await engine.Tokens.GetTokenAsync("structured-1"));

        // The block (an error) is logged once the outcome is journaled: wait for that line, then look at its properties.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        CapturedEntry? blocked = null;
        while (blocked is null && DateTime.UtcNow < deadline)
        {
            blocked = sink.Entries.FirstOrDefault(e => e.Level >= LogLevel.Warning && e.Properties.Any(p => p.Key == "AccountId" && Equals(p.Value, "structured-1")));
            if (blocked is null) await Task.Delay(50);
        }
        Assert.True(blocked is not null, "no warning with a named AccountId property; engine warnings seen:\n" +
            string.Join('\n', sink.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Message + " | " + string.Join(", ", e.Properties.Select(p => p.Key)))));
        Assert.Contains(blocked.Properties, p => p.Key == "{OriginalFormat}" && ((string?)p.Value)!.Contains("{AccountId}", StringComparison.Ordinal));
        Assert.Contains("structured-1", blocked.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("{AccountId}", blocked.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(tokens.RefreshToken, string.Join('\n', sink.Entries.Select(e => e.Message)), StringComparison.Ordinal);
    }

    private sealed record CapturedEntry(string Category, LogLevel Level, string Message, IReadOnlyList<KeyValuePair<string, object?>> Properties);

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<CapturedEntry> _entries = new();

        public IReadOnlyList<CapturedEntry> Entries => _entries.ToArray();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<CapturedEntry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                IReadOnlyList<KeyValuePair<string, object?>> properties = state is IEnumerable<KeyValuePair<string, object?>> pairs ? [.. pairs] : [];
                entries.Enqueue(new CapturedEntry(category, logLevel, formatter(state, exception), properties));
            }
        }
    }
}
