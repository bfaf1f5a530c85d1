using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ActorRefresh.Host.Cli;
using ActorRefresh.TestKit;
using Spectre.Console.Testing;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// The HTTP API against a real engine: every endpoint walked for leaked tokens (bodies, headers, metrics, logs, the data
/// folder), every protected endpoint refusing missing, wrong and almost-right keys, size limits, account id rules, the
/// keyless-on-a-public-address refusal, and the credentials-file checks of the import path.
/// </summary>
public sealed class ApiSecurityTests(ServeFixture serve) : IClassFixture<ServeFixture>
{
    private static readonly string[] ProtectedEndpoints =
    [
        "GET v1/accounts", "POST v1/accounts", "GET v1/accounts/sec-valid", "DELETE v1/accounts/sec-valid", "GET v1/accounts/sec-valid/token",
        "POST v1/accounts/sec-valid/rejected", "POST v1/accounts/sec-valid/refresh", "POST v1/accounts/sec-valid/unblock",
        "POST v1/accounts/sec-valid/block", "POST v1/import/claude?id=sec-valid", "GET ",
    ];

    [Fact]
    public async Task Walking_every_endpoint_in_every_state_shows_no_refresh_token_anywhere_and_access_tokens_only_where_asked()
    {
        var client = serve.Client;
        var server = serve.Server;
        var answers = new List<(string Request, HttpStatusCode Status, string Text)>();
        async Task<HttpResponseMessage> Send(HttpMethod method, string path, object? body = null, string? raw = null)
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null) request.Content = JsonContent.Create(body);
            if (raw is not null) request.Content = new StringContent(raw, Encoding.UTF8, "application/json");
            var response = await client.SendAsync(request);
            var text = response.Headers + "\n" + response.Content.Headers + "\n" + await response.Content.ReadAsStringAsync();
            answers.Add(($"{method} {path}", response.StatusCode, text));
            return response;
        }

        // Accounts in every state.
        var states = new Dictionary<string, FakeFault?>
        {
            ["sec-valid"] = null,
            ["sec-backoff"] = FakeFault.RateLimited(TimeSpan.FromSeconds(120)),
            ["sec-grant"] = FakeFault.InvalidGrant(),
            ["sec-policy"] = FakeFault.PolicyForbidden(),
            ["sec-transient"] = FakeFault.MalformedJson,
            ["sec-rejected"] = FakeFault.BadRequest("invalid_scope", "bad scope"),
        };
        foreach (var (id, fault) in states)
        {
            var issued = server.CreateAccount(id);
            if (fault is not null) server.Script(id, fault);
            Assert.Equal(HttpStatusCode.Created, (await Send(HttpMethod.Post, "v1/accounts", new { id, provider = "claude", refreshToken = issued.RefreshToken })).StatusCode);
            await Send(HttpMethod.Get, $"v1/accounts/{id}/token");
        }
        var imported = server.CreateAccount("sec-imported");
        await Send(HttpMethod.Post, "v1/import/claude?id=sec-imported", new
        {
            claudeAiOauth = new { accessToken = imported.AccessToken, refreshToken = imported.RefreshToken, expiresAt = imported.ExpiresAt.ToUnixTimeMilliseconds() },
        });
        // A duplicate registration and malformed ones must not echo what they were sent.
        await Send(HttpMethod.Post, "v1/accounts", new { id = "sec-valid", provider = "claude", refreshToken = server.Current("sec-valid").RefreshToken });
        await Send(HttpMethod.Post, "v1/accounts", null, $$"""{"id":"sec-x","provider":"claude","refreshToken":"{{server.Current("sec-valid").RefreshToken}}","expiresAt":"not a date"}""");
        await Send(HttpMethod.Post, "v1/accounts", null, $$"""{"id":"sec-y","provider":"nope","refreshToken":"{{server.Current("sec-valid").RefreshToken}}"}""");
        await Send(HttpMethod.Post, "v1/import/claude?id=sec-z", null, $$$"""{"claudeAiOauth":{"refreshToken":{{{JsonSerializer.Serialize(server.Current("sec-valid").RefreshToken)}}},"expiresAt":"x"} }""");

        foreach (var id in states.Keys.Append("sec-imported"))
        {
            await Send(HttpMethod.Get, $"v1/accounts/{id}");
            await Send(HttpMethod.Get, $"v1/accounts/{id}/token");
            await Send(HttpMethod.Post, $"v1/accounts/{id}/rejected", new { accessToken = server.Current(id).AccessToken });
            await Send(HttpMethod.Post, $"v1/accounts/{id}/rejected", new { accessToken = "sk-ant-oat01-not-ours" });
            await Send(HttpMethod.Post, $"v1/accounts/{id}/refresh");
            await Send(HttpMethod.Post, $"v1/accounts/{id}/block", new { reason = "audit" });
            await Send(HttpMethod.Get, $"v1/accounts/{id}/token");
            await Send(HttpMethod.Post, $"v1/accounts/{id}/unblock");
            await Send(HttpMethod.Get, $"v1/accounts/{id}/token");
        }
        await Send(HttpMethod.Get, "v1/accounts");
        await Send(HttpMethod.Get, "");
        await Send(HttpMethod.Get, "healthz");
        await Send(HttpMethod.Get, "readyz");
        await Send(HttpMethod.Get, "v1/accounts/nobody/token");
        await Send(HttpMethod.Get, "v1/accounts/bad%20id/token");
        await Send(HttpMethod.Put, "v1/accounts");
        await Send(HttpMethod.Get, "v1/nothing-here");
        await Task.Delay(200);
        var metrics = await Send(HttpMethod.Get, "metrics");
        var metricsText = await metrics.Content.ReadAsStringAsync();
        await Send(HttpMethod.Delete, "v1/accounts/sec-imported");

        var issuedTokens = server.IssuedTokens;
        var refreshTokens = issuedTokens.Where(t => t.StartsWith("sk-ant-ort01-", StringComparison.Ordinal)).ToList();
        var accessTokens = issuedTokens.Where(t => t.StartsWith("sk-ant-oat01-", StringComparison.Ordinal)).ToList();
        Assert.True(refreshTokens.Count >= 7 && accessTokens.Count >= 7);
        Assert.Contains(answers, a => a.Status == HttpStatusCode.ServiceUnavailable);
        Assert.Contains(answers, a => a.Status == HttpStatusCode.Conflict);
        Assert.Contains(answers, a => a.Status == HttpStatusCode.BadRequest);
        foreach (var (request, status, text) in answers)
        {
            Assert.All(refreshTokens, t => Assert.DoesNotContain(t, text, StringComparison.Ordinal));
            var mayCarryAccessToken = request.EndsWith("/token", StringComparison.Ordinal) && status == HttpStatusCode.OK;
            if (!mayCarryAccessToken)
                Assert.All(accessTokens, t => Assert.False(text.Contains(t, StringComparison.Ordinal), $"{request} ({(int)status}) carries an access token"));
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal); // no stack trace
        }

        // Metric labels: no token, no account id.
        Assert.Contains("actorrefresh_", metricsText, StringComparison.Ordinal);
        Assert.All(issuedTokens, t => Assert.DoesNotContain(t, metricsText, StringComparison.Ordinal));
        Assert.All(states.Keys, id => Assert.DoesNotContain(id, metricsText, StringComparison.Ordinal));

        // Logs and the data folder.
        var log = serve.Log;
        Assert.Contains("sec-backoff", log, StringComparison.Ordinal);
        Assert.All(issuedTokens, t => Assert.DoesNotContain(t, log, StringComparison.Ordinal));
        var files = string.Concat(Directory.GetFiles(serve.Directory).Select(f => Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        Assert.Contains("v3:", files, StringComparison.Ordinal);
        Assert.All(issuedTokens, t => Assert.DoesNotContain(t, files, StringComparison.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(serve.Directory));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(serve.Directory, "token-encryption.key")));
    }

    public static TheoryData<string?> Keys => new()
    {
        null,
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        "Bearer " + ServeFixture.Key[..^1],                              // one character short
        "Bearer " + ServeFixture.Key + "0",                              // one character more
        "Bearer " + ServeFixture.Key[..^1] + "Y",                        // last character differs
        "Bearer " + "X" + ServeFixture.Key[1..],                         // first character differs
        "Bearer " + ServeFixture.Key.ToUpperInvariant(),                 // case differs
        "Basic " + ServeFixture.Key,                                      // other scheme
        "Bearer " + Convert.ToBase64String(Encoding.UTF8.GetBytes(ServeFixture.Key)),
        ServeFixture.Key,                                                 // no scheme
        "Bearer " + ServeFixture.Key + "\u0000",
    };

    [Theory]
    [MemberData(nameof(Keys))]
    public async Task Every_protected_endpoint_refuses_missing_wrong_and_almost_right_keys(string? authorization)
    {
        using var client = serve.NewClient(null);
        var before = await serve.Client.GetStringAsync("v1/accounts");
        foreach (var endpoint in ProtectedEndpoints)
        {
            var (method, path) = (endpoint.Split(' ')[0], endpoint.Split(' ', 2)[1]);
            using var request = new HttpRequestMessage(new HttpMethod(method), path + (path.Contains('?') ? "&" : "?") + "key=" + ServeFixture.Key);
            if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
            if (method == "POST") request.Content = JsonContent.Create(new { id = "sec-intruder", provider = "claude", refreshToken = "rt", reason = "x", accessToken = "a" });
            var response = await client.SendAsync(request);
            if (authorization?.Contains('\0') == true)
            {
                // Kestrel refuses a header with a NUL before the application sees it.
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                continue;
            }
            if (authorization is null && endpoint == "GET ")
            {
                // The status page without any credentials: a browser, sent to the sign-in form (the key in the URL counts for nothing).
                Assert.Equal("/signin", response.RequestMessage!.RequestUri!.AbsolutePath);
                Assert.DoesNotContain("sec-valid", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                continue;
            }
            Assert.True(HttpStatusCode.Unauthorized == response.StatusCode, $"{endpoint} with '{authorization}': {(int)response.StatusCode}");
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }
        Assert.Equal(before, await serve.Client.GetStringAsync("v1/accounts")); // nothing changed
    }

    [Fact]
    public async Task Every_post_endpoint_refuses_bodies_over_64_KiB_with_413()
    {
        var big = "{\"reason\":\"" + new string('a', 70 * 1024) + "\"}";
        foreach (var path in new[] { "v1/accounts", "v1/accounts/sec-any/rejected", "v1/accounts/sec-any/block", "v1/import/claude?id=sec-any" })
        {
            var response = await serve.Client.PostAsync(path, new StringContent(big, Encoding.UTF8, "application/json"));
            Assert.True(HttpStatusCode.RequestEntityTooLarge == response.StatusCode, $"{path}: {(int)response.StatusCode}");
        }
    }

    [Theory]
    [InlineData("a%20b")]
    [InlineData("..%2F..%2Fetc")]
    [InlineData("%C3%A9t%C3%A9")]
    [InlineData("a;b")]
    [InlineData("%3Cscript%3E")]
    public async Task Account_ids_breaking_the_rule_are_clear_400s_on_every_endpoint(string id)
    {
        foreach (var (method, path) in new[] { ("GET", $"v1/accounts/{id}"), ("GET", $"v1/accounts/{id}/token"), ("DELETE", $"v1/accounts/{id}"),
                     ("POST", $"v1/accounts/{id}/refresh"), ("POST", $"v1/accounts/{id}/unblock"), ("POST", $"v1/import/claude?id={id}") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? JsonContent.Create(new { }) : null };
            var response = await serve.Client.SendAsync(request);
            Assert.True(HttpStatusCode.BadRequest == response.StatusCode, $"{method} {path}: {(int)response.StatusCode}");
            Assert.Contains("1-128 characters", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        // A control character never reaches the application: Kestrel refuses the request line itself.
        Assert.Equal(HttpStatusCode.BadRequest, (await serve.Client.GetAsync("v1/accounts/a%00b/token")).StatusCode);
        var tooLong = await serve.Client.PostAsJsonAsync("v1/accounts", new { id = new string('a', 129), provider = "claude", refreshToken = "rt" });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://*:0")]
    [InlineData("http://[::]:0")]
    public async Task Serve_without_a_key_refuses_to_start_on_a_non_loopback_address(string url)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await new CliApp(output, error, new TestConsole(), _ => null).RunAsync(["serve", "--urls", url]);
        Assert.Equal(2, exit);
        Assert.Contains("Refusing to listen", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_with_sync_refuses_a_symlink_or_a_file_others_can_read_and_stores_nothing()
    {
        var folder = Path.Combine(serve.SyncFolder, "cred-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var issued = serve.Server.CreateAccount("sec-sync");
            var json = JsonSerializer.Serialize(new
            {
                claudeAiOauth = new { accessToken = issued.AccessToken, refreshToken = issued.RefreshToken, expiresAt = issued.ExpiresAt.ToUnixTimeMilliseconds() },
            });
            var shared = Path.Combine(folder, "shared.json");
            File.WriteAllText(shared, json);
            File.SetUnixFileMode(shared, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var link = Path.Combine(folder, "link.json");
            var target = Path.Combine(folder, "target.json");
            File.WriteAllText(target, json);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.CreateSymbolicLink(link, target);

            foreach (var (path, reason) in new[] { (shared, "insecure permissions"), (link, "symbolic link") })
            {
                var response = await serve.Client.PostAsync($"v1/import/claude?id=sec-sync&sync=true&path={Uri.EscapeDataString(path)}",
                    new StringContent(json, Encoding.UTF8, "application/json"));
                var body = await response.Content.ReadAsStringAsync();
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                Assert.Contains(reason, body, StringComparison.Ordinal);
                Assert.DoesNotContain(issued.RefreshToken, body, StringComparison.Ordinal);
            }
            Assert.Equal(HttpStatusCode.NotFound, (await serve.Client.GetAsync("v1/accounts/sec-sync")).StatusCode);

            // The CLI's import refuses the same files before sending anything.
            foreach (var path in new[] { shared, link })
            {
                var error = new StringWriter();
                var exit = await new CliApp(new StringWriter(), error, new TestConsole(), name => name switch
                {
                    CliApp.ServerEnvironmentVariable => serve.BaseAddress.ToString(),
                    CliApp.ApiKeyEnvironmentVariable => ServeFixture.Key,
                    _ => null,
                }).RunAsync(["import-claude", path, "--id", "sec-sync"]);
                Assert.Equal(1, exit);
                Assert.Contains("cannot read", error.ToString(), StringComparison.Ordinal);
            }
            Assert.Equal(HttpStatusCode.NotFound, (await serve.Client.GetAsync("v1/accounts/sec-sync")).StatusCode);

            // An owner-only regular file is accepted.
            var ok = await serve.Client.PostAsync($"v1/import/claude?id=sec-sync&sync=true&path={Uri.EscapeDataString(target)}",
                new StringContent(json, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
