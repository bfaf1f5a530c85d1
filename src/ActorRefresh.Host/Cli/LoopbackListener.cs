using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Web;

namespace ActorRefresh.Host.Cli;

/// <summary>
/// The one-shot loopback listener of a native app's login (RFC 8252 section 7.3): listens on <c>127.0.0.1</c>, takes the
/// one redirect to its path that carries the login's <c>state</c>, and answers the browser with a small page. Requests
/// to other paths (a favicon) or with another state are answered and ignored.
/// </summary>
internal sealed class LoopbackListener : IDisposable
{
    private const int MaxRequestHeadBytes = 16 * 1024;
    private readonly TcpListener _listener;
    private readonly string _path;

    private LoopbackListener(TcpListener listener, string path)
    {
        _listener = listener;
        _path = path;
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public Uri RedirectUri => Core.Login.LoopbackRedirect.For(Port, _path);

    /// <summary>Listens on <paramref name="port"/> (0: one the system picks) of 127.0.0.1.</summary>
    /// <exception cref="CliException">The port is taken or cannot be used.</exception>
    public static LoopbackListener Start(int port, string path = Core.Login.LoopbackRedirect.DefaultPath)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
        }
        catch (SocketException exception)
        {
            listener.Dispose();
            throw new CliException($"cannot listen on 127.0.0.1:{port} for the login's redirect ({exception.SocketErrorCode}); free the port or choose another with --port");
        }
        return new LoopbackListener(listener, path);
    }

    /// <summary>
    /// Waits for the redirect that carries <paramref name="state"/>; answers it through the returned callback once the
    /// login's outcome is known. The callback URL comes back whole (the server parses code and state from it).
    /// </summary>
    public async Task<(string CallbackUrl, Func<bool, string, Task> Answer)> WaitAsync(string state, CancellationToken ct)
    {
        while (true)
        {
            var client = await _listener.AcceptTcpClientAsync(ct).ConfigureAwait(false);
            var stream = client.GetStream();
            string? target;
            try
            {
                target = await ReadTargetAsync(stream, ct).ConfigureAwait(false);
            }
            catch (IOException)
            {
                client.Dispose();
                continue;
            }
            var url = target is null ? null : new Uri(RedirectUri, target);
            if (url is null || url.AbsolutePath != _path)
            {
                await RespondAsync(client, 404, "Not found", "This is the login listener of actor-refresh.", ct).ConfigureAwait(false);
                continue;
            }
            var query = HttpUtility.ParseQueryString(url.Query);
            if (query["state"] != state)
            {
                // Not this login's answer (another tab, or a forged request): it must not end the login.
                await RespondAsync(client, 400, "Wrong login", "This answer does not belong to the login actor-refresh is waiting for.", ct).ConfigureAwait(false);
                continue;
            }
            return (url.ToString(), (ok, message) => RespondAsync(client, ok ? 200 : 400, ok ? "Logged in" : "Login failed", message, CancellationToken.None));
        }
    }

    private static async Task<string?> ReadTargetAsync(NetworkStream stream, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var buffer = new byte[MaxRequestHeadBytes];
        var total = 0;
        try
        {
            while (total < buffer.Length)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token).ConfigureAwait(false);
                if (read == 0) break;
                total += read;
                if (buffer.AsSpan(0, total).IndexOf("\r\n\r\n"u8) >= 0) break;
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
        var head = Encoding.ASCII.GetString(buffer, 0, total);
        var line = head.Split("\r\n", 2)[0].Split(' ');
        return line is ["GET", { } target, _] && target.StartsWith('/') ? target : null;
    }

    private static async Task RespondAsync(TcpClient client, int status, string title, string message, CancellationToken ct)
    {
        using (client)
        {
            var page = $"<!doctype html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title></head>"
                + $"<body><h1>{WebUtility.HtmlEncode(title)}</h1><p>{WebUtility.HtmlEncode(message)}</p></body></html>";
            var body = Encoding.UTF8.GetBytes(page);
            var head = $"HTTP/1.1 {status} {title}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {body.Length}\r\n"
                + "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
            try
            {
                var stream = client.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), ct).ConfigureAwait(false);
                await stream.WriteAsync(body, ct).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The browser went away; the login's outcome does not depend on the page.
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}
