using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Api;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// The status page's sign-in in the real host composition, spoken as a browser speaks it (cookies kept, redirects
/// seen): the form turns a key into an HttpOnly, SameSite=Strict session; anything a session changes needs the page's
/// anti-forgery token; wrong keys count as failed keys; a sign-out ends the session on the server; Bearer keys work as
/// before.
/// </summary>
public sealed partial class StatusPageSessionTests
{
    private const string Key = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH";
    private const string ReadKey = "read-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH";
    private const string TokensKey = "tokens-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF";

    private static readonly Dictionary<string, string?> ScopedKeys = new()
    {
        ["ActorRefresh:Api:Keys:viewer:Key"] = ReadKey,
        ["ActorRefresh:Api:Keys:viewer:Scopes"] = "read",
        ["ActorRefresh:Api:Keys:worker:Key"] = TokensKey,
        ["ActorRefresh:Api:Keys:worker:Scopes"] = "tokens",
    };

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex FormToken();

    [GeneratedRegex("<meta name=\"csrf-token\" content=\"([^\"]+)\">")]
    private static partial Regex PageToken();

    /// <summary>A browser: keeps cookies, does not follow redirects (the test looks at each).</summary>
    private sealed class Browser : IDisposable
    {
        public Browser(Uri baseAddress) => Http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = false })
        {
            BaseAddress = baseAddress,
        };

        public CookieContainer Cookies { get; } = new();
        public HttpClient Http { get; }

        public async Task<HttpResponseMessage> SignInAsync(string key, string? returnUrl = "/", bool withToken = true)
        {
            var form = await Http.GetStringAsync("signin");
            var fields = new Dictionary<string, string> { ["key"] = key, ["returnUrl"] = returnUrl ?? "" };
            if (withToken) fields[BrowserSessions.AntiforgeryField] = FormToken().Match(form).Groups[1].Value;
            return await Http.PostAsync("signin", new FormUrlEncodedContent(fields));
        }

        /// <summary>The status page and the anti-forgery token its script sends.</summary>
        public async Task<(string Html, string Token)> PageAsync()
        {
            using var response = await Http.GetAsync("");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var html = await response.Content.ReadAsStringAsync();
            return (html, PageToken().Match(html).Groups[1].Value);
        }

        public Task<HttpResponseMessage> PostAsync(string path, string? token)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path);
            if (token is not null) request.Headers.Add(BrowserSessions.AntiforgeryHeader, token);
            return Http.SendAsync(request);
        }

        public void Dispose() => Http.Dispose();
    }

    private static async Task<string> ReasonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString()!;

    [Fact]
    public async Task The_form_signs_in_with_an_HttpOnly_SameSite_Strict_session_that_holds_no_key()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        await server.Tokens.RegisterAsync(new AccountCredentials("a1", "claude", new Secret("sk-ant-ort01-SESSION-REFRESH")));
        using var browser = new Browser(server.BaseAddress);

        using var unsigned = await browser.Http.GetAsync("");
        Assert.Equal(HttpStatusCode.Redirect, unsigned.StatusCode);
        Assert.Equal("/signin?returnUrl=%2F", unsigned.Headers.Location!.PathAndQuery);

        using var signedIn = await browser.SignInAsync(Key);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/", signedIn.Headers.Location!.OriginalString);
        var cookie = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(BrowserSessions.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("expires=", cookie, StringComparison.OrdinalIgnoreCase); // a browser-session cookie
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase); // plain HTTP on loopback: see the HTTPS test
        Assert.DoesNotContain(Key, cookie, StringComparison.Ordinal);

        var (html, token) = await browser.PageAsync();
        Assert.Contains("<td>a1</td>", html, StringComparison.Ordinal);
        Assert.Contains("Signed in as ActorRefresh:Api:Key", html, StringComparison.Ordinal);
        Assert.NotEmpty(token);
        Assert.DoesNotContain(Key, html, StringComparison.Ordinal);
        Assert.DoesNotContain("SESSION-REFRESH", html, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, server.Log.ToString(), StringComparison.Ordinal);

        // The session is for the page and the API the page calls, as the key would be.
        Assert.Equal(HttpStatusCode.OK, (await browser.Http.GetAsync("v1/accounts")).StatusCode);
    }

    [Fact]
    public async Task A_wrong_key_stays_on_the_form_and_counts_as_a_failed_key()
    {
        await using var server = await BrokerServer.StartAsync(Key, new() { ["ActorRefresh:Api:FailedKeyLimit"] = "2" });
        using var browser = new Browser(server.BaseAddress);

        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var wrong = await browser.SignInAsync(Key[..^1]);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Contains("not one of the configured API keys", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.False(wrong.Headers.TryGetValues("Set-Cookie", out var set) && set.Any(c => c.StartsWith(BrowserSessions.CookieName, StringComparison.Ordinal)));
        }
        // The window's failures are used up: even the right key is not checked from this address now, by form or header.
        using var throttled = await browser.SignInAsync(Key);
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.NotNull(throttled.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await server.Client.GetAsync("v1/accounts")).StatusCode);
    }

    [Fact]
    public async Task A_form_post_without_its_anti_forgery_token_signs_nobody_in()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        using var browser = new Browser(server.BaseAddress);
        using var response = await browser.SignInAsync(Key, withToken: false);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.Http.GetAsync("")).StatusCode);
    }

    [Fact]
    public async Task What_a_session_changes_needs_the_page_token_and_a_bearer_key_does_not()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        await server.Tokens.RegisterAsync(new AccountCredentials("blocked", "claude", new Secret("sk-ant-ort01-X")));
        await server.Tokens.BlockAsync("blocked", "maintenance");
        using var browser = new Browser(server.BaseAddress);
        (await browser.SignInAsync(Key)).Dispose();
        var (html, token) = await browser.PageAsync();
        Assert.Contains("data-action=\"unblock\" data-account=\"blocked\"", html, StringComparison.Ordinal);

        using (var noToken = await browser.PostAsync("v1/accounts/blocked/unblock", null))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);
            Assert.Contains(BrowserSessions.AntiforgeryHeader, await ReasonAsync(noToken), StringComparison.Ordinal);
        }
        using (var badToken = await browser.PostAsync("v1/accounts/blocked/unblock", token[..^2] + "xx"))
            Assert.Equal(HttpStatusCode.BadRequest, badToken.StatusCode);
        Assert.Equal(AccountState.PolicyBlocked, (await server.Tokens.GetStatusAsync("blocked")).State);

        using (var withToken = await browser.PostAsync("v1/accounts/blocked/unblock", token))
            Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        Assert.Equal(AccountState.Valid, (await server.Tokens.GetStatusAsync("blocked")).State);

        // Scripts: the Bearer header, no cookie, no token.
        await server.Tokens.BlockAsync("blocked", "again");
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("v1/accounts/blocked/unblock", null)).StatusCode);
    }

    [Fact]
    public async Task A_session_has_its_keys_scopes_only()
    {
        await using var server = await BrokerServer.StartAsync(Key, ScopedKeys);
        await server.Tokens.RegisterAsync(new AccountCredentials("blocked", "claude", new Secret("sk-ant-ort01-X")));
        await server.Tokens.BlockAsync("blocked", "maintenance");

        using var worker = new Browser(server.BaseAddress);
        using (var refused = await worker.SignInAsync(TokensKey))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("has no &#39;read&#39; scope", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var viewer = new Browser(server.BaseAddress);
        (await viewer.SignInAsync(ReadKey)).Dispose();
        var (html, token) = await viewer.PageAsync();
        Assert.Contains("Signed in as ActorRefresh:Api:Keys:viewer", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-action=", html, StringComparison.Ordinal);
        Assert.DoesNotContain("add-open", html, StringComparison.Ordinal);
        using var forbidden = await viewer.PostAsync("v1/accounts/blocked/unblock", token);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Contains("'admin' scope", await ReasonAsync(forbidden), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.Http.GetAsync("v1/accounts/blocked/token")).StatusCode);
    }

    [Fact]
    public async Task Signing_out_ends_the_session_on_the_server()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        using var browser = new Browser(server.BaseAddress);
        (await browser.SignInAsync(Key)).Dispose();
        var session = browser.Cookies.GetCookies(server.BaseAddress)[BrowserSessions.CookieName]!.Value;
        var (_, token) = await browser.PageAsync();

        using var signOut = await browser.Http.PostAsync("signout",
            new FormUrlEncodedContent(new Dictionary<string, string> { [BrowserSessions.AntiforgeryField] = token }));
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Equal(BrowserSessions.SignInPath, signOut.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.Http.GetAsync("")).StatusCode);

        // The old cookie, replayed: the session it named is gone.
        using var replay = new HttpRequestMessage(HttpMethod.Get, "v1/accounts");
        replay.Headers.Add("Cookie", $"{BrowserSessions.CookieName}={session}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.SendAsync(replay)).StatusCode);
    }

    [Fact]
    public async Task A_session_ends_after_its_lifetime()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        using var browser = new Browser(server.BaseAddress);
        (await browser.SignInAsync(Key)).Dispose();
        server.Time.Advance(BrowserSessions.Lifetime - TimeSpan.FromMinutes(1));
        Assert.Equal(HttpStatusCode.OK, (await browser.Http.GetAsync("")).StatusCode);
        server.Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.Redirect, (await browser.Http.GetAsync("")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.Http.GetAsync("v1/accounts")).StatusCode);
    }

    [Theory]
    [InlineData("/?state=PolicyBlocked", "/?state=PolicyBlocked")]
    [InlineData("//evil.example/", "/")]
    [InlineData("/\\evil.example/", "/")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("", "/")]
    public void After_sign_in_only_a_path_of_this_server_is_followed(string returnUrl, string followed) =>
        Assert.Equal(followed, SignInPage.LocalPath(returnUrl));

    [Fact]
    public async Task Keyless_mode_needs_no_sign_in_and_the_form_sends_to_the_page()
    {
        await using var server = await BrokerServer.StartAsync(key: null);
        using var browser = new Browser(server.BaseAddress);
        using var form = await browser.Http.GetAsync("signin");
        Assert.Equal(HttpStatusCode.Redirect, form.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.Http.GetAsync("")).StatusCode);
    }

    [Fact]
    public async Task Over_https_the_session_cookie_is_secure()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", rsa,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(Path.GetTempPath(), "actorrefresh-session-" + Guid.NewGuid().ToString("N") + ".pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, "pw"));
        try
        {
            await using var server = await BrokerServer.StartAsync(Key, new()
            {
                ["Kestrel:Certificates:Default:Path"] = pfx,
                ["Kestrel:Certificates:Default:Password"] = "pw",
            }, url: "https://127.0.0.1:0");
            using var http = new HttpClient(new HttpClientHandler
            {
                CookieContainer = new CookieContainer(),
                AllowAutoRedirect = false,
                ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
            })
            { BaseAddress = server.BaseAddress };
            Assert.Equal("https", server.BaseAddress.Scheme);
            var form = await http.GetStringAsync("signin");
            using var signedIn = await http.PostAsync("signin", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["key"] = Key,
                [BrowserSessions.AntiforgeryField] = FormToken().Match(form).Groups[1].Value,
            }));
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
            var cookie = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(BrowserSessions.CookieName + "=", StringComparison.Ordinal));
            Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(pfx);
        }
    }
}
