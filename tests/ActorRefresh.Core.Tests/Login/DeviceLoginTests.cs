using System.Collections.Concurrent;
using System.Web;
using ActorRefresh.Core.Login;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tests.Infrastructure;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Core.Tests.Login;

/// <summary>
/// The device authorization grant (RFC 8628) over real HTTP against a scripted loopback token endpoint, on a fake clock:
/// the test sees every wait the poll asks the clock for and moves time by exactly that much, so each poll's instant is
/// known and checked (interval, <c>slow_down</c>, the device code's expiry).
/// </summary>
public sealed class DeviceLoginTests : IAsyncLifetime
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(31);
    private readonly WatchedClock _time = new(CoreServices.Start);
    private readonly CoreServices _core;
    private LoopbackServer _server = null!;

    /// <summary>The fake clock's instant when each poll reached the token endpoint.</summary>
    private readonly ConcurrentQueue<(TimeSpan At, string Body)> _polls = new();

    public DeviceLoginTests() => _core = new CoreServices(_time);

    public async Task InitializeAsync() => _server = await LoopbackServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _core.Dispose();
    }

    private DeviceLoginClient Client => _core.Provider.GetRequiredService<DeviceLoginClient>();

    private ProviderProfile Profile() => new()
    {
        Name = "idp",
        TokenEndpoint = _server.TokenEndpoint,
        DeviceAuthorizationEndpoint = new Uri(_server.BaseAddress, "/device"),
        ClientId = "device-client",
        Scope = "offline_access api",
        RequestTimeout = RequestTimeout,
    };

    /// <summary>The device endpoint answers <paramref name="device"/>; the token endpoint answers <paramref name="polls"/> in turn.</summary>
    private void Script(string device, params (int Status, string Body)[] polls)
    {
        var answers = new ConcurrentQueue<(int, string)>(polls);
        _server.Handle(async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            if (ctx.Request.Path == "/device")
            {
                await ctx.Response.WriteAsync(device);
                return;
            }
            _polls.Enqueue((_time.GetUtcNow() - CoreServices.Start, _server.Requests.Last().Body));
            var (status, body) = answers.TryDequeue(out var next) ? next : (500, "{}");
            ctx.Response.StatusCode = status;
            await ctx.Response.WriteAsync(body);
        });
    }

    private const string Pending = """{"error":"authorization_pending"}""";
    private const string SlowDown = """{"error":"slow_down"}""";
    private const string Granted = """{"access_token":"at-device","refresh_token":"rt-device","expires_in":3600,"token_type":"Bearer"}""";

    private static string DeviceAnswer(int expiresIn = 600, int? interval = null) =>
        $$"""{"device_code":"dc-secret-4711","user_code":"WDJB-MJHT","verification_uri":"https://idp.example/device","verification_uri_complete":"https://idp.example/device?user_code=WDJB-MJHT","expires_in":{{expiresIn}}{{(interval is { } i ? $",\"interval\":{i}" : "")}}}""";

    private async Task<DeviceAuthorization> StartAsync(ProviderProfile profile)
    {
        var (authorization, failure) = await Client.StartAsync(profile, CancellationToken.None);
        Assert.True(authorization is not null, failure);
        return authorization;
    }

    /// <summary>
    /// Lets the poll run: each time it waits on the clock (a delay other than the request timeout), checks the wait is
    /// <paramref name="waits"/>' next entry and moves the clock by it; then answers how the poll ended.
    /// </summary>
    private async Task<(RefreshOutcome.Refreshed? Tokens, DeviceLoginFailure? Failure)> RunAsync(ProviderProfile profile, DeviceAuthorization authorization, params int[] waits)
    {
        var poll = Client.PollAsync(profile, authorization, CancellationToken.None);
        foreach (var (expected, index) in waits.Select((w, i) => (w, i)))
        {
            var wait = await _time.NextTimerAsync(due => due != RequestTimeout);
            Assert.True(TimeSpan.FromSeconds(expected) == wait, $"wait {index + 1}: expected {expected} s, the poll asked for {wait.TotalSeconds} s");
            _time.Advance(wait);
        }
        var result = await poll.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(_time.HasUnseenTimer(due => due != RequestTimeout), "the poll went on waiting after it ended");
        return result;
    }

    private TimeSpan[] PollInstants => _polls.Select(p => p.At).ToArray();

    private static TimeSpan[] Seconds(params int[] s) => s.Select(x => TimeSpan.FromSeconds(x)).ToArray();

    [Fact]
    public async Task The_start_asks_for_a_user_code_and_keeps_the_device_code_out_of_sight()
    {
        Script(DeviceAnswer(expiresIn: 900));
        var authorization = await StartAsync(Profile());

        var request = Assert.Single(_server.Requests);
        var form = HttpUtility.ParseQueryString(request.Body);
        Assert.Equal("/device", request.Path);
        Assert.Equal("device-client", form["client_id"]);
        Assert.Equal("offline_access api", form["scope"]);
        Assert.Equal("WDJB-MJHT", authorization.UserCode);
        Assert.Equal(new Uri("https://idp.example/device"), authorization.VerificationUri);
        Assert.Equal(new Uri("https://idp.example/device?user_code=WDJB-MJHT"), authorization.VerificationUriComplete);
        Assert.Equal(CoreServices.Start.AddSeconds(900), authorization.ExpiresAt);
        Assert.Equal(DeviceLoginClient.DefaultInterval, authorization.Interval);
        Assert.Equal("dc-secret-4711", authorization.DeviceCode.Reveal());
        Assert.DoesNotContain("dc-secret-4711", authorization.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"user_code":"A","verification_uri":"https://idp.example/d","expires_in":600}""", "no device_code")]
    [InlineData("""{"device_code":"d","verification_uri":"https://idp.example/d","expires_in":600}""", "no user_code")]
    [InlineData("""{"device_code":"d","user_code":"A","expires_in":600}""", "no absolute verification_uri")]
    [InlineData("""{"device_code":"d","user_code":"A","verification_uri":"https://idp.example/d"}""", "no valid expires_in")]
    public async Task An_incomplete_device_answer_is_refused_naming_the_missing_field(string answer, string reason)
    {
        Script(answer);
        var (authorization, failure) = await Client.StartAsync(Profile(), CancellationToken.None);
        Assert.Null(authorization);
        Assert.Contains(reason, failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_profile_without_a_device_endpoint_names_the_setting()
    {
        var profile = Profile();
        profile.DeviceAuthorizationEndpoint = null;
        var (_, failure) = await Client.StartAsync(profile, CancellationToken.None);
        Assert.Contains("ActorRefresh:Providers:idp:DeviceAuthorizationEndpoint", failure, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Polls_wait_the_default_interval_keep_on_pending_and_slow_down_adds_five_seconds_for_good()
    {
        Script(DeviceAnswer(), (400, Pending), (400, SlowDown), (400, Pending), (400, SlowDown), (200, Granted));
        var profile = Profile();
        var authorization = await StartAsync(profile);

        var (tokens, failure) = await RunAsync(profile, authorization, 5, 5, 10, 10, 15);

        Assert.Null(failure);
        Assert.Equal("at-device", tokens!.AccessToken.Reveal());
        Assert.Equal("rt-device", tokens.RefreshToken!.Reveal());
        Assert.Equal(Seconds(5, 10, 20, 30, 45), PollInstants);
        var form = HttpUtility.ParseQueryString(_polls.First().Body);
        Assert.Equal(DeviceLoginClient.GrantType, form["grant_type"]);
        Assert.Equal("dc-secret-4711", form["device_code"]);
        Assert.Equal("device-client", form["client_id"]);
    }

    [Fact]
    public async Task The_interval_the_provider_names_is_kept()
    {
        Script(DeviceAnswer(interval: 8), (400, Pending), (200, Granted));
        var profile = Profile();
        var authorization = await StartAsync(profile);
        Assert.Equal(TimeSpan.FromSeconds(8), authorization.Interval);

        var (tokens, _) = await RunAsync(profile, authorization, 8, 8);

        Assert.NotNull(tokens);
        Assert.Equal(Seconds(8, 16), PollInstants);
    }

    [Theory]
    [InlineData("access_denied", "denied")]
    [InlineData("expired_token", "expired")]
    public async Task A_denial_or_an_expired_code_ends_the_login_without_another_poll(string error, string words)
    {
        Script(DeviceAnswer(), (400, Pending), (400, $$"""{"error":"{{error}}"}"""));
        var profile = Profile();
        var authorization = await StartAsync(profile);

        var (tokens, failure) = await RunAsync(profile, authorization, 5, 5);

        Assert.Null(tokens);
        Assert.Contains(words, failure!.Reason, StringComparison.Ordinal);
        Assert.Contains(error, failure.Reason, StringComparison.Ordinal);
        Assert.Equal(Seconds(5, 10), PollInstants);
    }

    [Fact]
    public async Task When_the_device_code_expires_the_poll_stops_without_asking_again()
    {
        Script(DeviceAnswer(expiresIn: 12), (400, Pending), (400, Pending), (400, Pending));
        var profile = Profile();
        var authorization = await StartAsync(profile);

        // Polls at 5 s and 10 s; the wait that ends at 15 s is past the code's 12 s life.
        var (tokens, failure) = await RunAsync(profile, authorization, 5, 5, 5);

        Assert.Null(tokens);
        Assert.Contains("expired", failure!.Reason, StringComparison.Ordinal);
        Assert.Equal(Seconds(5, 10), PollInstants);
    }

    [Fact]
    public async Task Another_refusal_ends_the_login_with_the_providers_error_and_no_device_code()
    {
        Script(DeviceAnswer(), (400, """{"error":"invalid_client","error_description":"client dc-secret-4711 unknown"}"""));
        var profile = Profile();
        var authorization = await StartAsync(profile);

        var (tokens, failure) = await RunAsync(profile, authorization, 5);

        Assert.Null(tokens);
        Assert.Contains("invalid_client", failure!.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("dc-secret-4711", failure.ToString(), StringComparison.Ordinal);
        Assert.Single(_polls);
    }
}
