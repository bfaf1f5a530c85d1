using System.Text.Json;
using ActorRefresh.Host.Demo;
using ActorRefresh.Host.Logging;
using Spectre.Console;
using Spectre.Console.Testing;

namespace ActorRefresh.Host.Tests;

/// <summary>The demo runs the real engine end to end; its report must show the invariants and every scripted fault.</summary>
public sealed class DemoTests
{
    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    public async Task Demo_keeps_the_invariants_shows_every_fault_and_logs_no_token(string logFormat)
    {
        var logs = new StringWriter();
        var report = await DemoRunner.RunAsync(
            new DemoOptions(Accounts: 20, Callers: 200, Duration: TimeSpan.FromSeconds(3), Json: true, LogFormat: logFormat == "json" ? LogFormat.Json : LogFormat.Text),
            logs, new TestConsole(), CancellationToken.None);

        Assert.Equal(0, report.OverlappingRefreshes);
        Assert.Equal(0, report.RefreshTokenReuse);
        Assert.Equal(0, report.CallsDuringBackoff);
        Assert.True(report.Requests > 1000);
        Assert.Equal(report.Requests, report.Served + report.Failed.Values.Sum());

        // The scripted faults: three 429s (backing off), a CDN 403 (transient), an org-policy 403 and an invalid_grant (blocked).
        Assert.Equal(3, report.States["BackingOff"]);
        Assert.Equal(2, report.States["PolicyBlocked"]);
        Assert.Equal(3, report.LastErrors["rate_limited"]);
        Assert.Equal(1, report.LastErrors["transient"]);
        Assert.Equal(1, report.LastErrors["policy_refused"]);
        Assert.Equal(1, report.LastErrors["grant_rejected"]);
        Assert.True(report.Failed.GetValueOrDefault("blocked") > 0);

        var json = DemoRunner.ToJson(report);
        using var document = JsonDocument.Parse(json);
        foreach (var key in new[] { "accounts", "requests", "served", "failed", "upstreamRefreshCalls", "overlappingRefreshes", "refreshTokenReuse", "callsDuringBackoff", "states", "p50Micros", "p99Micros" })
            Assert.True(document.RootElement.TryGetProperty(key, out _), key);

        var logText = logs.ToString();
        Assert.Contains("refreshed", logText);
        Assert.NotEmpty(report.IssuedTokens);
        Assert.All(report.IssuedTokens, token =>
        {
            Assert.DoesNotContain(token, logText, StringComparison.Ordinal);
            Assert.DoesNotContain(token, json, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task While_the_live_table_runs_no_log_line_tears_it_and_the_held_lines_come_under_it()
    {
        var writes = new System.Collections.Concurrent.ConcurrentQueue<(string Source, string Text)>();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(new TaggedWriter("console", writes)),
        });
        var report = await DemoRunner.RunAsync(new DemoOptions(Accounts: 10, Callers: 50, Duration: TimeSpan.FromSeconds(2)),
            new TaggedWriter("log", writes), console, CancellationToken.None);

        var sequence = writes.ToList();
        var firstLog = sequence.FindIndex(w => w.Source == "log");
        Assert.True(firstLog >= 0, "the demo should have logged");
        Assert.True(firstLog > 0, "log output came before the table was first drawn");
        // Once a log line is out, the table is not drawn again: every log line came after its last frame.
        Assert.DoesNotContain(sequence.Skip(firstLog), w => w.Source == "console");
        Assert.Contains("refreshed", string.Concat(sequence.Where(w => w.Source == "log").Select(w => w.Text)), StringComparison.Ordinal);
        Assert.True(report.InvariantsHold);
    }

    /// <summary>Records which writer each write went through, in order.</summary>
    private sealed class TaggedWriter(string source, System.Collections.Concurrent.ConcurrentQueue<(string, string)> writes) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value) => writes.Enqueue((source, value.ToString()));

        public override void Write(string? value)
        {
            if (!string.IsNullOrEmpty(value)) writes.Enqueue((source, value));
        }

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));
    }
}
