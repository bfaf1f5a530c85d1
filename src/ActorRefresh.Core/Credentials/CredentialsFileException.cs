namespace ActorRefresh.Core.Credentials;

/// <summary>
/// A credentials file (or upload) could not be read or written. The message names the path and the
/// fault, never token text and never raw parser output.
/// </summary>
public sealed class CredentialsFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">Path of the file, or the name of the source for an upload.</param>
    /// <param name="fault">What is wrong, without any token text.</param>
    /// <param name="innerException">The underlying I/O error, if any (never a JSON parser error).</param>
    public CredentialsFileException(string path, string fault, Exception? innerException = null)
        : base($"Credentials file '{path}': {fault}", innerException)
    {
        Path = path;
    }

    /// <summary>Path of the file, or the name of the source for an upload.</summary>
    public string Path { get; }
}
