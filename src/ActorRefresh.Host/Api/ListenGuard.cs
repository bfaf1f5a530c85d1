using System.Net;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Api;

/// <summary>Refuses to serve without an API key on anything but loopback, and plain HTTP off loopback unless allowed.</summary>
internal static class ListenGuard
{
    /// <exception cref="InvalidOperationException">No key is configured and a URL is not loopback, or plain HTTP is asked for off loopback.</exception>
    public static void EnsureSafe(IEnumerable<string> urls, ApiOptions options)
    {
        var all = urls.ToList();
        var exposed = all.Where(u => !IsLoopback(u)).ToList();
        if (!options.HasKey && exposed.Count > 0)
            throw new InvalidOperationException(
                $"Refusing to listen on {string.Join(", ", exposed)} without an API key: set {ApiOptions.KeySetting} " +
                $"or {ApiOptions.KeyFileSetting}, or listen on loopback only (127.0.0.1, [::1], localhost).");
        var plain = exposed.Where(u => u.TrimStart().StartsWith("http://", StringComparison.OrdinalIgnoreCase)).ToList();
        if (plain.Count > 0 && !options.AllowInsecureHttp)
            throw new InvalidOperationException(
                $"Refusing plain HTTP on {string.Join(", ", plain)}: the API key and access tokens would cross the network in clear. " +
                $"Listen on https://, keep plain HTTP on loopback behind a TLS proxy, or set {ApiOptions.AllowInsecureHttpSetting}=true.");
    }

    /// <summary>
    /// True when Kestrel would bind the URL to loopback only. The URL is parsed by Kestrel's own parser
    /// (<see cref="BindingAddress"/>) and read as Kestrel reads it: <c>localhost</c> is loopback, an IP address is itself,
    /// and anything else (wildcards, names, malformed hosts such as <c>[::1]x</c>) binds every address.
    /// </summary>
    public static bool IsLoopback(string url)
    {
        BindingAddress address;
        try
        {
            address = BindingAddress.Parse(url.Trim());
        }
        catch (FormatException)
        {
            return false;
        }
        if (address.IsUnixPipe || address.IsNamedPipe) return false;
        if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(address.Host, out var ip) && IPAddress.IsLoopback(ip);
    }
}
