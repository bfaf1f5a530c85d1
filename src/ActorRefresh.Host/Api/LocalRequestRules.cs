using System.Net;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.Host.Api;

/// <summary>
/// What a request must look like to be answered without an API key: it can only come from a program on this machine,
/// not from a web page the operator happens to visit. A page can reach loopback (and rebind its own name to
/// 127.0.0.1), but it cannot send a loopback name as <c>Host</c> from its own origin, cannot hide its
/// <c>Origin</c>/<c>Sec-Fetch-Site</c>, and without CORS cannot send an <c>application/json</c> body.
/// </summary>
internal static class LocalRequestRules
{
    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>Why a keyless request is refused, or null when it may be answered.</summary>
    public static string? RefusalWithoutKey(HttpRequest request, IPAddress? peer)
    {
        if (peer is null || !IPAddress.IsLoopback(peer))
            return $"Without an API key only loopback peers are answered (this one is {peer?.ToString() ?? "unknown"}); set {ApiOptions.KeySetting}.";

        var host = request.Headers.Host.ToString();
        if (!IsLoopbackHost(host))
            return $"Without an API key only requests addressed to localhost, 127.0.0.1 or [::1] are answered (Host '{Shorten(host)}'): " +
                $"a web page can point any other name at this machine. Use one of those names or set {ApiOptions.KeySetting}.";

        var origin = request.Headers.Origin.ToString();
        if (request.Headers.Origin.Count > 0 && !string.Equals(origin, $"{request.Scheme}://{host}", StringComparison.OrdinalIgnoreCase))
            return $"Without an API key requests sent by a web page of another origin are refused (Origin '{Shorten(origin)}'); set {ApiOptions.KeySetting}.";

        // "none": the operator typed the address; "same-origin": the status page itself. Anything else is another site's page.
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (request.Headers.ContainsKey("Sec-Fetch-Site") && site is not ("none" or "same-origin"))
            return $"Without an API key requests a browser marks as coming from another site are refused (Sec-Fetch-Site '{Shorten(site)}'); set {ApiOptions.KeySetting}.";
        return null;
    }

    /// <summary>True for <c>localhost</c>, <c>127.0.0.1</c> or <c>[::1]</c>, each with an optional numeric port; nothing else.</summary>
    public static bool IsLoopbackHost(string host)
    {
        foreach (var name in LoopbackNames)
        {
            if (!host.StartsWith(name, StringComparison.OrdinalIgnoreCase)) continue;
            var rest = host.AsSpan(name.Length);
            if (rest.IsEmpty) return true;
            if (rest[0] == ':' && rest.Length is > 1 and <= 6 && int.TryParse(rest[1..], System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out var port) && port <= 65535)
                return true;
        }
        return false;
    }

    /// <summary>
    /// Why a request's body is refused, or null. Every body the API reads is JSON; asking for the JSON media type
    /// refuses what a page can send without CORS (<c>text/plain</c>, forms) whatever the key setting.
    /// </summary>
    public static string? RefusalOfBody(HttpRequest request)
    {
        var hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0 || request.Headers.ContentType.Count > 0;
        if (!hasBody) return null;
        var contentType = request.Headers.ContentType.ToString();
        if (Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media) &&
            media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            return null;
        return contentType.Length == 0
            ? "A request body must be sent with 'Content-Type: application/json' (none was given)."
            : $"A request body must be sent with 'Content-Type: application/json' (got '{Shorten(contentType)}').";
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
