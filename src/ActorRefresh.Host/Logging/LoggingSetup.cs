using System.Globalization;
using Microsoft.Extensions.Configuration;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Compact;
using Serilog.Formatting.Display;

namespace ActorRefresh.Host.Logging;

/// <summary>Builds the host's Serilog logger: console (or a given writer), redacted, levels from configuration.</summary>
internal static class LoggingSetup
{
    private const string TextTemplate =
        "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    /// <summary>
    /// Creates the logger. Minimum levels come from <c>Serilog:MinimumLevel:Default</c> and
    /// <c>Serilog:MinimumLevel:Override:&lt;prefix&gt;</c>; sinks are not read from configuration on
    /// purpose, so that no configured sink can bypass redaction.
    /// </summary>
    /// <param name="output">Where lines go; the console when null (tests pass a writer).</param>
    public static Logger CreateLogger(IConfiguration configuration, LogFormat format, TextWriter? output = null)
    {
        var config = new LoggerConfiguration()
            .Destructure.With(new SecretDestructuringPolicy())
            .Enrich.FromLogContext();
        ApplyLevels(config, configuration);

        var formatter = CreateFormatter(format);
        if (output is null)
            config.WriteTo.Sink(Serilog.Configuration.LoggerSinkConfiguration.Wrap(
                sink => new RedactingSink(sink), to => to.Console(formatter)));
        else
            config.WriteTo.Sink(new RedactingSink(new TextWriterSink(formatter, output)));
        return config.CreateLogger();
    }

    public static ITextFormatter CreateFormatter(LogFormat format) => format == LogFormat.Json
        ? new CompactJsonFormatter()
        : new MessageTemplateTextFormatter(TextTemplate, CultureInfo.InvariantCulture);

    private static void ApplyLevels(LoggerConfiguration config, IConfiguration configuration)
    {
        var levels = configuration.GetSection("Serilog:MinimumLevel");
        config.MinimumLevel.Is(ParseLevel(levels["Default"], "Serilog:MinimumLevel:Default") ?? LogEventLevel.Information);
        foreach (var child in levels.GetSection("Override").GetChildren())
        {
            if (ParseLevel(child.Value, child.Path) is { } level)
                config.MinimumLevel.Override(child.Key, level);
        }
    }

    private static LogEventLevel? ParseLevel(string? value, string key)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        return Enum.TryParse<LogEventLevel>(value, ignoreCase: true, out var level)
            ? level
            : throw new InvalidOperationException(
                $"{key} is '{value}'; expected one of {string.Join(", ", Enum.GetNames<LogEventLevel>())}.");
    }

    // Serilog's console sink cannot write to an arbitrary writer; tests and tools need one.
    private sealed class TextWriterSink(ITextFormatter formatter, TextWriter writer) : ILogEventSink
    {
        private readonly Lock _gate = new();

        public void Emit(LogEvent logEvent)
        {
            lock (_gate)
            {
                formatter.Format(logEvent, writer);
                writer.Flush();
            }
        }
    }
}
