using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using ActorRefresh.Host.Tests.Reliability;
using ActorRefresh.Testing;
using ActorRefresh.TestKit;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// <c>serve</c> with the standard OpenTelemetry variables sends its refresh spans to an OTLP collector (here a loopback
/// HTTP receiver of <c>/v1/traces</c>), its lease and login spans with the requests they belong to, and no token or login
/// code with them.
/// </summary>
public sealed class TraceExportTests : IAsyncLifetime
{
    private const string Key = "traces-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKLMN";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "actorrefresh-traces-" + Guid.NewGuid().ToString("N"));
    private readonly ConcurrentQueue<byte[]> _exports = new();
    private readonly HttpListener _collector = new();
    private FakeTokenServer _server = null!;
    private Task _receiving = Task.CompletedTask;
    private int _port;

    public async Task InitializeAsync()
    {
        _server = await FakeTokenServer.StartAsync();
        _port = ServeProcess.FreePort();
        _collector.Prefixes.Add($"http://127.0.0.1:{_port}/");
        _collector.Start();
        _receiving = ReceiveAsync();
    }

    private async Task ReceiveAsync()
    {
        while (_collector.IsListening)
        {
            HttpListenerContext context;
            try { context = await _collector.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            if (context.Request.Url?.AbsolutePath == "/v1/traces") _exports.Enqueue(body.ToArray());
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    public async Task DisposeAsync()
    {
        _collector.Stop();
        _collector.Close();
        await _receiving;
        await _server.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Serve_exports_refresh_lease_and_login_spans_to_the_collector_named_by_the_otlp_variables()
    {
        var issued = _server.CreateAccount("tr1");
        _server.LogInAs("tr2");
        string served, pasted, leased;
        await using (var serve = await HostProcess.StartAsync(Key, new Dictionary<string, string?>
        {
            ["ActorRefresh__Storage__DataDirectory"] = _directory,
            ["ActorRefresh__Providers__claude__TokenEndpoint"] = _server.TokenEndpoint.ToString(),
            ["ActorRefresh__Providers__claude__UsageEndpoint"] = _server.UsageEndpoint.ToString(),
            ["ActorRefresh__Providers__claude__AuthorizeEndpoint"] = _server.AuthorizeEndpoint.ToString(),
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{_port}",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        }))
        {
            (await serve.Client.PostAsJsonAsync("v1/accounts", new { id = "tr1", provider = "claude", refreshToken = issued.RefreshToken })).EnsureSuccessStatusCode();
            var answer = await serve.Client.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("v1/accounts/tr1/token");
            served = answer!["accessToken"]!.GetValue<string>();
            Assert.Equal(1, _server.RefreshCalls("tr1"));

            // A lease and a login over HTTP, without a traceparent of the caller's: their spans, children of the
            // request's, are exported too.
            (await serve.Client.PutAsJsonAsync("v1/pools/trp", new { accounts = new[] { "tr1" } })).EnsureSuccessStatusCode();
            leased = (await serve.Client.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("v1/pools/trp/lease"))!["accessToken"]!.GetValue<string>();
            using var start = await serve.Client.PostAsJsonAsync("v1/accounts/tr2/login", new { provider = "claude" });
            Assert.Equal(HttpStatusCode.Created, start.StatusCode);
            var login = await start.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>();
            using (var browser = new HttpClient())
                pasted = Regex.Match(await browser.GetStringAsync(login!["authorizeUrl"]!.GetValue<string>()), "<code id=\"code\">([^<]+)</code>").Groups[1].Value;
            using var done = await serve.Client.PostAsJsonAsync($"v1/logins/{login["loginId"]!.GetValue<string>()}", new { code = pasted });
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            // A graceful stop flushes the span batch (the exporter's schedule is 5 s otherwise).
            serve.Terminate();
            Assert.True(await serve.WaitForExitAsync(TimeSpan.FromSeconds(60)), "serve did not stop");
        }

        // Protobuf keeps strings as UTF-8 bytes: the span name and tags are readable in the payload.
        var payload = string.Join("\n", _exports.Select(e => Encoding.UTF8.GetString(e)));
        Assert.Contains("actorrefresh.refresh", payload, StringComparison.Ordinal);
        Assert.Contains("actorrefresh.account", payload, StringComparison.Ordinal);
        Assert.Contains("tr1", payload, StringComparison.Ordinal);
        Assert.Contains("actor-refresh", payload, StringComparison.Ordinal); // the service name
        Assert.Contains("actorrefresh.lease", payload, StringComparison.Ordinal);
        Assert.Contains("actorrefresh.login", payload, StringComparison.Ordinal);
        Assert.Contains("logged_in", payload, StringComparison.Ordinal);
        foreach (var token in new[] { issued.RefreshToken, issued.AccessToken, served, leased, _server.Current("tr1").RefreshToken,
            pasted.Split('#')[0], pasted.Split('#')[1], _server.Current("tr2").AccessToken, _server.Current("tr2").RefreshToken })
            Assert.DoesNotContain(token, payload, StringComparison.Ordinal);
    }
}
