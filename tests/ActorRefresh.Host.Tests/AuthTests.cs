using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using ActorRefresh.Host.Api;
using ActorRefresh.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Host.Tests;

public sealed class AuthTests
{
    private const string Key = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH";

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer wrong")]
    [InlineData("Bearer test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG")]      // one character short
    [InlineData("Bearer test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHI")]    // one character long
    [InlineData("Bearer TEST-KEY-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ-ABCDEFGH")]     // case differs
    [InlineData("Basic test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH")]      // right key, wrong scheme
    public async Task V1_and_status_page_refuse_missing_wrong_and_almost_right_keys(string? authorization)
    {
        await using var server = await BrokerServer.StartAsync(Key);
        foreach (var path in new[] { "v1/accounts", "v1/accounts/x/token", "v1/nothing-here", "" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (authorization is not null)
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            var response = await server.Anonymous.SendAsync(request);
            if (path == "" && authorization is null)
            {
                // A browser without a session is sent to the sign-in form; nothing of the page is shown.
                Assert.Equal(BrowserSessions.SignInPath, response.RequestMessage!.RequestUri!.AbsolutePath);
                Assert.Contains("name=\"key\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                continue;
            }
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Contains("ActorRefresh:Api:Key", problem.GetProperty("reason").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_right_key_opens_v1_and_the_status_page_and_probes_need_none()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("v1/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("")).StatusCode);
        using var lowerScheme = new HttpRequestMessage(HttpMethod.Get, "v1/accounts");
        lowerScheme.Headers.TryAddWithoutValidation("Authorization", "bearer " + Key);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.SendAsync(lowerScheme)).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("metrics")).StatusCode);
    }

    [Fact]
    public async Task The_key_in_the_query_string_is_not_accepted()
    {
        await using var server = await BrokerServer.StartAsync(Key);
        var page = await server.Anonymous.GetAsync("?key=" + Key);
        Assert.Equal(BrowserSessions.SignInPath, page.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.DoesNotContain("<table", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.GetAsync("v1/accounts?key=" + Key)).StatusCode);
    }

    [Fact]
    public async Task Keyless_on_loopback_is_open_and_warns_once()
    {
        await using var server = await BrokerServer.StartAsync(key: null);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("v1/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("")).StatusCode);
        var warnings = server.Log.ToString().Split('\n').Count(l => l.Contains("No API key is configured", StringComparison.Ordinal));
        Assert.Equal(1, warnings);
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://*:5080")]
    [InlineData("http://+:5080")]
    [InlineData("http://[::]:5080")]
    [InlineData("http://192.168.1.10:5080")]
    [InlineData("http://gateway.internal:5080")]
    public void Refuses_to_build_keyless_on_a_non_loopback_url(string url)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Build([url], key: ""));
        Assert.Contains("ActorRefresh:Api:Key", error.Message, StringComparison.Ordinal);
        Assert.Contains(url, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_when_any_of_several_urls_is_not_loopback()
    {
        Assert.Throws<InvalidOperationException>(() => Build(["http://127.0.0.1:0", "http://0.0.0.0:0"], key: ""));
    }

    [Fact]
    public async Task Builds_with_a_key_on_a_non_loopback_url()
    {
        await using var app = Build(["https://0.0.0.0:0"], key: Key); // built, never started
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://127.1.2.3:0", true)]
    [InlineData("https://localhost:5001/", true)]
    [InlineData("http://[::1]:5080", true)]
    [InlineData("http://0.0.0.0:5080", false)]
    [InlineData("http://[::]:5080", false)]
    [InlineData("http://localhost.evil.example:80", false)]
    public void Loopback_detection(string url, bool loopback) => Assert.Equal(loopback, ListenGuard.IsLoopback(url));

    [Fact]
    public void Serve_refuses_when_no_engine_is_registered()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ActorRefreshWebHost.Build(
            new ServeSettings(["http://127.0.0.1:0"], LogOutput: TextWriter.Null), (_, _) => { }));
        Assert.Contains("ITokenProvider", error.Message, StringComparison.Ordinal);
    }

    private static Microsoft.AspNetCore.Builder.WebApplication Build(string[] urls, string key) =>
        ActorRefreshWebHost.Build(
            new ServeSettings(urls, ConfigOverrides: new Dictionary<string, string?> { ["ActorRefresh:Api:Key"] = key }, LogOutput: TextWriter.Null),
            (services, _) => services.AddSingleton<ITokenProvider>(new InMemoryTokenProvider(new FakeTimeProvider())));
}
