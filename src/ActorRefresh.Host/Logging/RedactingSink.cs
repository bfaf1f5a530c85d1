using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;

namespace ActorRefresh.Host.Logging;

/// <summary>
/// Wraps a sink and rewrites each event before it is formatted: the message template, every property
/// value (nested ones too) and the exception text lose anything token-shaped.
/// </summary>
/// <remarks>
/// A sink wrapper rather than an enricher because an enricher cannot change the template, and a
/// token interpolated into the template text (<c>$"… {token}"</c>) lives there.
/// </remarks>
internal sealed class RedactingSink(ILogEventSink inner) : ILogEventSink, IDisposable
{
    private static readonly MessageTemplateParser Parser = new();

    public void Emit(LogEvent logEvent) => inner.Emit(Redact(logEvent));

    public void Dispose() => (inner as IDisposable)?.Dispose();

    internal static LogEvent Redact(LogEvent logEvent)
    {
        var template = logEvent.MessageTemplate;
        // A property right after the word "Bearer" is a credential whatever its shape.
        var afterBearer = new HashSet<string>(StringComparer.Ordinal);
        string? previousText = null;
        foreach (var token in template.Tokens)
        {
            if (token is TextToken text)
                previousText = text.Text;
            else if (token is PropertyToken property)
            {
                if (previousText is not null && Redactor.EndsWithBearerWord(previousText))
                    afterBearer.Add(property.PropertyName);
                previousText = null;
            }
        }

        var redactedText = Redactor.Redact(template.Text);
        if (!ReferenceEquals(redactedText, template.Text) && redactedText != template.Text)
            template = Parser.Parse(redactedText);

        var properties = new List<LogEventProperty>(logEvent.Properties.Count);
        foreach (var (name, value) in logEvent.Properties)
        {
            var hide = afterBearer.Contains(name) || Redactor.IsSecretName(name);
            properties.Add(new LogEventProperty(name, RedactValue(value, hide)));
        }

        var exception = logEvent.Exception is null ? null : new RedactedException(logEvent.Exception);
        return new LogEvent(logEvent.Timestamp, logEvent.Level, exception, template, properties,
            logEvent.TraceId ?? default, logEvent.SpanId ?? default);
    }

    private static LogEventPropertyValue RedactValue(LogEventPropertyValue value, bool hide) => value switch
    {
        ScalarValue { Value: null } => value,
        ScalarValue { Value: string s } when hide && Redactor.IsFingerprint(s) => value,
        ScalarValue scalar when hide => scalar.Value is ValueType ? scalar : new ScalarValue(Redactor.Placeholder),
        ScalarValue { Value: string s } => Redactor.ContainsToken(s) ? new ScalarValue(Redactor.Redact(s)) : value,
        ScalarValue { Value: var other } when other is not ValueType =>
            // Unknown reference types are rendered with ToString later; check that text now.
            Redactor.ContainsToken(other.ToString() ?? "") ? new ScalarValue(Redactor.Redact(other.ToString() ?? "")) : value,
        ScalarValue => value,
        SequenceValue sequence => new SequenceValue(sequence.Elements.Select(e => RedactValue(e, hide))),
        StructureValue structure => new StructureValue(
            structure.Properties.Select(p => new LogEventProperty(p.Name, RedactValue(p.Value, hide || Redactor.IsSecretName(p.Name)))),
            structure.TypeTag is null ? null : Redactor.Redact(structure.TypeTag)),
        DictionaryValue dictionary => new DictionaryValue(dictionary.Elements.Select(kv =>
            new KeyValuePair<ScalarValue, LogEventPropertyValue>(
                (ScalarValue)RedactValue(kv.Key, hide),
                RedactValue(kv.Value, hide || (kv.Key.Value is string key && Redactor.IsSecretName(key)))))),
        _ => value,
    };
}

/// <summary>Stands in for a logged exception; its text is the original's with tokens removed.</summary>
internal sealed class RedactedException(Exception original) : Exception(Redactor.Redact(original.Message))
{
    public Type OriginalType => original.GetType();

    // Formatters print ToString(): the original type, message, inner exceptions and stack, redacted.
    public override string ToString() => Redactor.Redact(original.ToString());

    public override string? StackTrace => null;
}
