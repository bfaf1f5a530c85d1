using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Hosting.Tests;

/// <summary><see cref="ITokenProvider"/> through a real host: typed failures, cancellation, validation at start.</summary>
[Collection(HostCollection.Name)]
public sealed class TokenProviderTests
{
    private static AccountCredentials Credentials(string id, FakeAccountTokens tokens, DateTimeOffset? expiresAt = null) =>
        new(id, "claude", new Secret(tokens.RefreshToken), new Secret(tokens.AccessToken), expiresAt ?? tokens.ExpiresAt);

    [Fact]
    public async Task Registered_account_serves_its_token_from_the_read_side()
    {
        await using var engine = await HostedEngine.StartAsync();
        var tokens = engine.Server.CreateAccount("a1");
        var status = await engine.Accounts.RegisterAsync(Credentials("a1", tokens));
        Assert.Equal(AccountState.Valid, status.State);

        var token = await engine.Tokens.GetTokenAsync("a1");
        Assert.Equal(tokens.AccessToken, token.Value.Reveal());
        Assert.Single(await engine.Accounts.ListAsync());
        Assert.Equal(0, engine.Server.TotalRefreshCalls);
    }

    [Fact]
    public async Task Typed_failures_for_unknown_blocked_backing_off_and_invalid()
    {
        await using var engine = await HostedEngine.StartAsync();
        await Assert.ThrowsAsync<AccountNotFoundException>(() => engine.Tokens.GetTokenAsync("nobody").AsTask());
        await Assert.ThrowsAsync<InvalidAccountCommandException>(() => engine.Tokens.GetTokenAsync("bad id").AsTask());

        var tokens = engine.Server.CreateAccount("a1");
        var refused = await Assert.ThrowsAsync<InvalidAccountCommandException>(() =>
            engine.Accounts.RegisterAsync(Credentials("a1", tokens) with { Provider = "nope" }));
        Assert.Contains("unknown provider", refused.Reason);

        // Scripted first: an account registered inside its refresh lead refreshes at once, on its own.
        engine.Server.Script("a1", FakeFault.RateLimited(TimeSpan.FromMinutes(5)));
        await engine.Accounts.RegisterAsync(Credentials("a1", tokens, DateTimeOffset.UtcNow.AddSeconds(10)));
        var backingOff = await Assert.ThrowsAsync<TokenBackingOffException>(() => engine.Tokens.GetTokenAsync("a1").AsTask());
        Assert.InRange(backingOff.RetryAt, DateTimeOffset.UtcNow.AddMinutes(4), DateTimeOffset.UtcNow.AddMinutes(6));
        Assert.DoesNotContain(tokens.AccessToken, backingOff.ToString());

        await engine.Accounts.BlockAsync("a1", "maintenance");
        var blocked = await Assert.ThrowsAsync<AccountBlockedException>(() => engine.Tokens.GetTokenAsync("a1").AsTask());
        Assert.Contains("maintenance", blocked.Reason);
    }

    [Fact]
    public async Task TryGetToken_returns_the_token_or_the_typed_failure_without_throwing()
    {
        await using var engine = await HostedEngine.StartAsync();
        var tokens = engine.Server.CreateAccount("a1");
        await engine.Accounts.RegisterAsync(Credentials("a1", tokens));

        var served = await engine.Tokens.TryGetTokenAsync("a1");
        Assert.True(served.Succeeded);
        Assert.Equal(tokens.AccessToken, served.Token.Value.Reveal());
        Assert.DoesNotContain(tokens.AccessToken, served.ToString());

        var missing = await engine.Tokens.TryGetTokenAsync("nobody");
        Assert.False(missing.Succeeded);
        Assert.IsType<AccountNotFoundException>(missing.Error);

        var other = engine.Server.CreateAccount("a2");
        engine.Server.Script("a2", FakeFault.RateLimited(TimeSpan.FromMinutes(5)));
        await engine.Accounts.RegisterAsync(Credentials("a2", other, DateTimeOffset.UtcNow.AddSeconds(10)));
        var backingOff = Assert.IsType<TokenBackingOffException>((await engine.Tokens.TryGetTokenAsync("a2")).Error);
        Assert.InRange(backingOff.RetryAt, DateTimeOffset.UtcNow.AddMinutes(4), DateTimeOffset.UtcNow.AddMinutes(6));

        await engine.Accounts.BlockAsync("a1", "maintenance");
        var blocked = await engine.Tokens.TryGetTokenAsync("a1");
        Assert.Contains("maintenance", Assert.IsType<AccountBlockedException>(blocked.Error).Reason);
        Assert.DoesNotContain(tokens.AccessToken, blocked.ToString());

        // The caller's own cancellation is not a result: it throws, as with GetTokenAsync.
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        // An account registered without an access token refreshes at once; its answer is held for 2 s.
        var refresh = engine.Server.CreateAccount("a3");
        engine.Server.Script("a3", FakeFault.Delay(TimeSpan.FromSeconds(2)));
        await engine.Accounts.RegisterAsync(new AccountCredentials("a3", "claude", new Secret(refresh.RefreshToken)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine.Tokens.TryGetTokenAsync("a3", cancelled.Token).AsTask());
    }

    [Fact]
    public async Task The_three_faces_are_one_engine_and_a_host_may_register_its_own_first()
    {
        await using var engine = await HostedEngine.StartAsync();
        Assert.Same(engine.Tokens, engine.Accounts);
        Assert.Same(engine.Tokens, engine.Pools);

        var configuration = new ConfigurationBuilder().Build();
        var own = new ServiceCollection().AddLogging();
        own.AddSingleton<ITokenProvider, OwnTokens>();
        own.AddActorRefreshEngine(configuration);
        using var replaced = own.BuildServiceProvider();
        Assert.IsType<OwnTokens>(replaced.GetRequiredService<ITokenProvider>());
    }

    [Fact]
    public async Task Engine_options_set_in_code_win_over_configuration_and_are_validated_at_start()
    {
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = HostedEngine.NewDirectory(),
            ["ActorRefresh:Engine:SnapshotEvery"] = "20",
        };
        IHost Build(Action<EngineOptions> configure)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Services.AddActorRefresh(builder.Configuration, configure);
            return builder.Build();
        }

        using (var host = Build(o => o.SnapshotEvery = 7))
            Assert.Equal(7, host.Services.GetRequiredService<IOptions<EngineOptions>>().Value.SnapshotEvery);

        using var wrong = Build(o => o.SnapshotEvery = 0);
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => wrong.StartAsync());
        Assert.Contains("ActorRefresh:Engine:SnapshotEvery must be at least 1.", failure.Message, StringComparison.Ordinal);
    }

    /// <summary>A host's own token source in front of the engine (a cache, a decorator).</summary>
    private sealed class OwnTokens : ITokenProvider
    {
        public ValueTask<AccessToken> GetTokenAsync(string accountId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task ReportRejectedAsync(string accountId, string accessToken, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Cancelling_one_caller_does_not_cancel_the_refresh_others_wait_on()
    {
        await using var engine = await HostedEngine.StartAsync();
        var tokens = engine.Server.CreateAccount("a1");
        engine.Server.Script("a1", FakeFault.Delay(TimeSpan.FromMilliseconds(500)));
        await engine.Accounts.RegisterAsync(Credentials("a1", tokens, DateTimeOffset.UtcNow.AddSeconds(30)));

        using var cts = new CancellationTokenSource();
        var cancelled = engine.Tokens.GetTokenAsync("a1", cts.Token).AsTask();
        var patient = engine.Tokens.GetTokenAsync("a1").AsTask();
        await WaitUntil(() => engine.Server.InFlightRefreshes("a1") == 1);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        var token = await patient;
        Assert.Equal(engine.Server.Current("a1").AccessToken, token.Value.Reveal());
        Assert.Equal(1, engine.Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Reporting_the_current_token_rejected_refreshes_it()
    {
        await using var engine = await HostedEngine.StartAsync();
        var tokens = engine.Server.CreateAccount("a1");
        await engine.Accounts.RegisterAsync(Credentials("a1", tokens));
        await engine.Tokens.ReportRejectedAsync("a1", tokens.AccessToken);
        var fresh = await engine.Tokens.GetTokenAsync("a1");
        Assert.NotEqual(tokens.AccessToken, fresh.Value.Reveal());
        await engine.Tokens.ReportRejectedAsync("a1", tokens.AccessToken); // stale: nothing happens
        Assert.Equal(1, engine.Server.RefreshCalls("a1"));
    }

    [Fact]
    public async Task Accounts_and_backoff_survive_a_host_restart()
    {
        var server = await FakeTokenServer.StartAsync();
        var directory = HostedEngine.NewDirectory();
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = directory,
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
        };
        var tokens = server.CreateAccount("a1");
        DateTimeOffset retryAt;
        using (var first = HostedEngine.Build(settings))
        {
            await first.StartAsync();
            var provider = (ITokenProvider)first.Services.GetService(typeof(ITokenProvider))!;
            server.Script("a1", FakeFault.RateLimited(TimeSpan.FromMinutes(10)));
            await first.Services.GetRequiredService<IAccountAdmin>().RegisterAsync(Credentials("a1", tokens, DateTimeOffset.UtcNow.AddSeconds(10)));
            retryAt = (await Assert.ThrowsAsync<TokenBackingOffException>(() => provider.GetTokenAsync("a1").AsTask())).RetryAt;
            await first.StopAsync();
        }
        using (var second = HostedEngine.Build(settings))
        {
            await second.StartAsync();
            var provider = (ITokenProvider)second.Services.GetService(typeof(ITokenProvider))!;
            var again = await Assert.ThrowsAsync<TokenBackingOffException>(() => provider.GetTokenAsync("a1").AsTask());
            Assert.Equal(retryAt, again.RetryAt);
            Assert.Single(await second.Services.GetRequiredService<IAccountAdmin>().ListAsync());
            await second.StopAsync();
        }
        Assert.Equal(1, server.RefreshCalls("a1"));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Generated_key_file_and_data_folder_are_private()
    {
        await using var engine = await HostedEngine.StartAsync();
        var key = Path.Combine(engine.Directory, "token-encryption.key");
        Assert.True(File.Exists(key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(engine.Directory));
    }

    [Theory]
    [InlineData("ActorRefresh:Engine:MaxConcurrentRefreshes", "0", "ActorRefresh:Engine:MaxConcurrentRefreshes")]
    [InlineData("ActorRefresh:Storage:EncryptionKey", "not-base64!", "ActorRefresh:Storage:EncryptionKey")]
    [InlineData("ActorRefresh:Providers:mine:ClientId", "x", "ActorRefresh:Providers:mine:TokenEndpoint")]
    [InlineData("ActorRefresh:Storage:Provider", "PostgreSql", "ActorRefresh:Storage:ConnectionString")]
    public async Task Invalid_settings_stop_the_start_naming_the_key(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = HostedEngine.NewDirectory(),
            [key] = value,
        };
        using var host = HostedEngine.Build(settings);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public async Task Unwritable_data_folder_stops_the_start_naming_the_key()
    {
        var file = Path.GetTempFileName(); // a file where a folder should be
        using var host = HostedEngine.Build(new Dictionary<string, string?> { ["ActorRefresh:Storage:DataDirectory"] = Path.Combine(file, "data") });
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains("ActorRefresh:Storage:DataDirectory", e.Message);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition()) await Task.Delay(10, timeout.Token);
    }
}
