using System.Net;

namespace ActorRefresh.Host.Api;

/// <summary>Refuses to serve without an API key on anything but loopback.</summary>
internal static class ListenGuard
{
    /// <exception cref="InvalidOperationException">No key is configured and a URL is not loopback.</exception>
    public static void EnsureSafe(IEnumerable<string> urls, ApiOptions options)
    {
        if (options.HasKey)
            return;
        var exposed = urls.Where(u => !IsLoopback(u)).ToList();
        if (exposed.Count > 0)
            throw new InvalidOperationException(
                $"Refusing to listen on {string.Join(", ", exposed)} without an API key: set {ApiOptions.KeySetting} " +
                "(environment variable ActorRefresh__Api__Key) or listen on loopback only (127.0.0.1, [::1], localhost).");
    }

    /// <summary>True when the URL binds only a loopback address. Wildcards (*, +, 0.0.0.0, [::]) and host names are not loopback.</summary>
    public static bool IsLoopback(string url)
    {
        var rest = url.Trim();
        var schemeEnd = rest.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
            rest = rest[(schemeEnd + 3)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
            rest = rest[..slash];

        string host;
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
                return false;
            host = rest[1..close];
        }
        else
        {
            var colon = rest.LastIndexOf(':');
            host = colon >= 0 ? rest[..colon] : rest;
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        return IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address);
    }
}
