using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text;
using System.Text.Json;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// Configurable limits on the number of accounts and pools: a key holder cannot grow the broker without bound
/// (each account is an actor, a journal and upstream refreshes). Real HTTP on loopback.
/// </summary>
public sealed class LimitTests
{
    private const string RefreshToken = "sk-ant-ort01-limit-refresh-token";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static Task<HttpResponseMessage> Register(BrokerServer server, string id) =>
        server.Client.PostAsync("v1/accounts", Json($$"""{"id":"{{id}}","provider":"claude","refreshToken":"{{RefreshToken}}-{{id}}"}"""));

    private static async Task<string> ConflictReason(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString()!;
    }

    [Fact]
    public async Task Registering_or_importing_past_the_account_limit_is_409_naming_the_setting()
    {
        await using var server = await BrokerServer.StartAsync(settings: new() { ["ActorRefresh:Api:MaxAccounts"] = "2" });
        Assert.Equal(HttpStatusCode.Created, (await Register(server, "a")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Register(server, "b")).StatusCode);
        var listed = server.Tokens.ListCalls;

        var reason = await ConflictReason(await Register(server, "c"));
        Assert.Contains("ActorRefresh:Api:MaxAccounts", reason, StringComparison.Ordinal);
        Assert.Contains("2 accounts", reason, StringComparison.Ordinal);
        Assert.Null(server.Tokens.CredentialsOf("c"));

        var expires = BrokerServer.Now.AddHours(3).ToUnixTimeMilliseconds();
        var file = $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-L","refreshToken":"{{RefreshToken}}-x","expiresAt":{{expires}},"scopes":["user:inference"]} }""";
        await ConflictReason(await server.Client.PostAsync("v1/import/claude?id=d", Json(file)));
        Assert.Null(server.Tokens.CredentialsOf("d"));
        // An existing account may still import new credentials, and a removal makes room.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("v1/import/claude?id=a", Json(file))).StatusCode);
        Assert.True((await server.Client.DeleteAsync("v1/accounts/b")).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Register(server, "c")).StatusCode);
        // Every check took the provider's count: no registration or import listed the accounts.
        Assert.Equal(listed, server.Tokens.ListCalls);
    }

    [Fact]
    public async Task The_engine_directory_count_holds_the_limit_and_a_removal_frees_a_slot()
    {
        var serve = new Reliability.ServeFixture();
        serve.Settings["ActorRefresh:Api:MaxAccounts"] = "2";
        await serve.InitializeAsync();
        try
        {
            var issued = new Dictionary<string, string>();
            Task<HttpResponseMessage> RegisterReal(string id)
            {
                if (!issued.TryGetValue(id, out var refresh)) issued[id] = refresh = serve.Server.CreateAccount(id).RefreshToken;
                return serve.Client.PostAsync("v1/accounts", Json($$"""{"id":"{{id}}","provider":"claude","refreshToken":"{{refresh}}"}"""));
            }
            Assert.Equal(HttpStatusCode.Created, (await RegisterReal("ea")).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await RegisterReal("eb")).StatusCode);
            var reason = await ConflictReason(await RegisterReal("ec"));
            Assert.Contains("ActorRefresh:Api:MaxAccounts", reason, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.NotFound, (await serve.Client.GetAsync("v1/accounts/ec")).StatusCode);

            Assert.True((await serve.Client.DeleteAsync("v1/accounts/eb")).IsSuccessStatusCode);
            Assert.Equal(HttpStatusCode.Created, (await RegisterReal("ec")).StatusCode);
            await ConflictReason(await RegisterReal("ed"));
            var accounts = serve.App.Services.GetRequiredService<ActorRefresh.Hosting.IAccountAdmin>();
            Assert.Equal((2, true), await accounts.CountAccountsAsync("ec"));
            Assert.Equal((2, false), await accounts.CountAccountsAsync("eb"));
        }
        finally
        {
            await serve.StopAsync();
        }
    }

    [Fact]
    public async Task Defining_past_the_pool_limit_is_409_naming_the_setting()
    {
        await using var server = await BrokerServer.StartAsync(settings: new() { ["ActorRefresh:Api:MaxPools"] = "1" });
        Assert.Equal(HttpStatusCode.Created, (await server.Client.PutAsync("v1/pools/one", Json("""{"accounts":["a"]}"""))).StatusCode);

        var reason = await ConflictReason(await server.Client.PutAsync("v1/pools/two", Json("""{"accounts":["a"]}""")));
        Assert.Contains("ActorRefresh:Api:MaxPools", reason, StringComparison.Ordinal);
        Assert.Contains("1 pools", reason, StringComparison.Ordinal);
        // Redefining an existing pool is not a new one.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PutAsync("v1/pools/one", Json("""{"accounts":["b"]}"""))).StatusCode);
    }

    [Theory]
    [InlineData("ActorRefresh:Api:MaxAccounts")]
    [InlineData("ActorRefresh:Api:MaxPools")]
    public async Task A_limit_below_one_stops_the_start_naming_the_setting(string setting)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var server = await BrokerServer.StartAsync(settings: new() { [setting] = "0" });
        });
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }
}
