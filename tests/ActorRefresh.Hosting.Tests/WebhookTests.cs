using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.TestKit;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// Webhooks through the real hosted engine to a real HTTP receiver on loopback (<see cref="HttpListener"/>): a blocked
/// account is posted with a signature the receiver can check, retried after the receiver's 500, and followed by a
/// healthy notice when it is unblocked; no body carries a token.
/// </summary>
[Collection(HostCollection.Name)]
public sealed class WebhookTests
{
    private const string Secret = "webhook-secret-0123456789abcdef";

    [Fact]
    public async Task A_blocked_account_is_posted_signed_retried_after_a_500_and_followed_by_healthy_again()
    {
        using var receiver = new Receiver(failFirst: 1);
        await using var engine = await HostedEngine.StartAsync(extra: new Dictionary<string, string?>
        {
            ["ActorRefresh:Notifications:Webhooks:ops:Url"] = receiver.Url,
            ["ActorRefresh:Notifications:Webhooks:ops:Secret"] = Secret,
            ["ActorRefresh:Notifications:Webhooks:ops:Events:0"] = "account.blocked",
            ["ActorRefresh:Notifications:Webhooks:ops:Events:1"] = "account.healthy",
        });
        var issued = engine.Server.CreateAccount("w1");
        await engine.Accounts.RegisterAsync(new AccountCredentials("w1", "claude", new Secret(issued.RefreshToken), new Secret(issued.AccessToken), issued.ExpiresAt));
        engine.Server.Script("w1", FakeFault.InvalidGrant());
        await engine.Accounts.ForceRefreshAsync("w1");

        var blocked = await receiver.WaitForAsync("account.blocked");
        Assert.Equal(2, receiver.Attempts("account.blocked")); // the first answered 500, the retry accepted
        Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), blocked.Body)), blocked.Signature);
        var json = JsonNode.Parse(blocked.Body)!;
        Assert.Equal("w1", json["accountId"]!.GetValue<string>());
        Assert.Equal("PolicyBlocked", json["state"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(json["reason"]?.GetValue<string>()), "a blocked notice says why");

        await engine.Accounts.UnblockAsync("w1");
        await engine.Accounts.ReplaceCredentialsAsync(new AccountCredentials("w1", "claude", new Secret(engine.Server.RotateExternally("w1").RefreshToken)));
        await receiver.WaitForAsync("account.healthy");

        var tokens = new[] { issued.AccessToken, issued.RefreshToken, engine.Server.Current("w1").AccessToken, engine.Server.Current("w1").RefreshToken };
        foreach (var body in receiver.Bodies)
            foreach (var token in tokens) Assert.DoesNotContain(token, body, StringComparison.Ordinal);
    }

    /// <summary>A real HTTP server on a loopback port that records every POST and answers 500 to the first ones.</summary>
    private sealed class Receiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<(string Kind, byte[] Body, string? Signature)> _received = new();
        private int _toFail;

        public Receiver(int failFirst)
        {
            _toFail = failFirst;
            var port = FreePort();
            Url = $"http://127.0.0.1:{port}/hook/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _ = Task.Run(ServeAsync);
        }

        public string Url { get; }

        public IEnumerable<string> Bodies => _received.Select(r => Encoding.UTF8.GetString(r.Body));

        public int Attempts(string kind) => _received.Count(r => r.Kind == kind);

        /// <summary>The delivery of <paramref name="kind"/> the receiver accepted (answered 200).</summary>
        public async Task<(byte[] Body, string? Signature)> WaitForAsync(string kind)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!_accepted.ContainsKey(kind))
            {
                Assert.True(DateTime.UtcNow < deadline, $"no {kind} webhook was accepted");
                await Task.Delay(20);
            }
            return _accepted[kind];
        }

        private readonly ConcurrentDictionary<string, (byte[] Body, string? Signature)> _accepted = new(StringComparer.Ordinal);

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var kind = context.Request.Headers["X-ActorRefresh-Event"] ?? "";
                var delivery = (body.ToArray(), context.Request.Headers["X-ActorRefresh-Signature"]);
                _received.Enqueue((kind, delivery.Item1, delivery.Item2));
                var fail = Interlocked.Decrement(ref _toFail) >= 0;
                if (!fail) _accepted[kind] = delivery;
                context.Response.StatusCode = fail ? 500 : 200;
                context.Response.Close();
            }
        }

        private static int FreePort()
        {
            using var socket = new TcpListener(IPAddress.Loopback, 0);
            socket.Start();
            return ((IPEndPoint)socket.LocalEndpoint).Port;
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
        }
    }
}
