using System.Net;

namespace ActorRefresh.Core.Login;

/// <summary>
/// Loopback redirect URIs of native apps (RFC 8252 section 7.3): <c>http</c>, the loopback IP literal (<c>127.0.0.1</c>
/// or <c>[::1]</c>, not <c>localhost</c>, section 8.3), any port, a path, no query or fragment.
/// </summary>
internal static class LoopbackRedirect
{
    /// <summary>The path the CLI listens on when the profile names none.</summary>
    public const string DefaultPath = "/callback";

    /// <summary>True when <paramref name="uri"/> is a loopback redirect URI by the rules above.</summary>
    public static bool IsLoopback(Uri? uri) =>
        uri is { IsAbsoluteUri: true, Scheme: "http", Query.Length: 0, Fragment.Length: 0 }
        && uri.UserInfo.Length == 0
        && IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);

    /// <summary>The redirect URI for a listener on <paramref name="port"/> of <c>127.0.0.1</c>.</summary>
    public static Uri For(int port, string path = DefaultPath) => new($"http://127.0.0.1:{port}{(path.StartsWith('/') ? path : "/" + path)}");
}
