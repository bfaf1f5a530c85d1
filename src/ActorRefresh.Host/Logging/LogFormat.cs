namespace ActorRefresh.Host.Logging;

/// <summary>How log lines are written to the console.</summary>
internal enum LogFormat
{
    /// <summary>One human-readable line per event.</summary>
    Text,
    /// <summary>Compact JSON (CLEF), one object per line, for log shippers.</summary>
    Json,
}
