using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ActorRefresh.Host.Api;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Tests;

/// <summary>Keys with scopes over real HTTP on loopback: a worker's key reads tokens and cannot administer.</summary>
public sealed class ScopedKeyTests
{
    private const string AllKey = "all-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
    private const string WorkerKey = "worker-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJ";
    private const string AdminKey = "admin-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJK";
    private const string ReadKey = "read-key-0123456789abcdef-ghijklmnopqrstuvwxyz-ABCDEFGHIJKLM";
    private const string RefreshToken = "sk-ant-ort01-SCOPED-refresh";

    private static Dictionary<string, string?> ScopedKeys() => new()
    {
        ["ActorRefresh:Api:Keys:worker:Key"] = WorkerKey,
        ["ActorRefresh:Api:Keys:worker:Scopes"] = "tokens",
        ["ActorRefresh:Api:Keys:ops:Key"] = AdminKey,
        ["ActorRefresh:Api:Keys:ops:Scopes:0"] = "admin",
        ["ActorRefresh:Api:Keys:ops:Scopes:1"] = "tokens",
        ["ActorRefresh:Api:Keys:dashboard:Key"] = ReadKey,
        ["ActorRefresh:Api:Keys:dashboard:Scopes"] = "read",
    };

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpClient ClientWith(BrokerServer server, string key)
    {
        var client = new HttpClient { BaseAddress = server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static async Task AssertScopeRefusedAsync(HttpResponseMessage response, string scope, string presentedKey)
    {
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains($"'{scope}' scope", JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(presentedKey, body, StringComparison.Ordinal);
    }

    private static async Task RegisterAsync(HttpClient client, string id)
    {
        var response = await client.PostAsync("v1/accounts", Json(
            $$"""{"id":"{{id}}","provider":"claude","refreshToken":"{{RefreshToken}}","accessToken":"sk-ant-oat01-SCOPED-{{id}}","expiresAt":"{{BrokerServer.Now.AddHours(2):O}}"}"""));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task Every_mapped_route_declares_a_scope_or_is_explicitly_public()
    {
        await using var server = await BrokerServer.StartAsync(AllKey);
        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        Assert.True(endpoints.Count >= 20, $"only {endpoints.Count} endpoints were found: the enumeration missed routes");
        var undeclared = endpoints
            .Where(e => e.Metadata.GetMetadata<ScopeRequirement>() is null && e.Metadata.GetMetadata<PublicEndpoint>() is null)
            .Select(e => e.DisplayName).ToList();
        Assert.True(undeclared.Count == 0, "routes without a scope: " + string.Join("; ", undeclared));
        var publicRoutes = endpoints.Where(e => e.Metadata.GetMetadata<PublicEndpoint>() is not null)
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["/healthz", "/metrics", "/openapi/v1.json", "/readyz", "/signin", "/signin", "/signout", "/status-page.js"], publicRoutes);
        Assert.All(endpoints.Select(e => e.Metadata.GetMetadata<ScopeRequirement>()?.Scope).OfType<string>(),
            scope => Assert.Contains(scope, ApiScopes.All));
    }

    [Fact]
    public async Task A_tokens_key_reads_tokens_and_reports_but_cannot_register_import_block_refresh_or_remove()
    {
        await using var server = await BrokerServer.StartAsync(AllKey, ScopedKeys());
        using var worker = ClientWith(server, WorkerKey);
        await RegisterAsync(server.Client, "w1");

        var token = JsonDocument.Parse(await worker.GetStringAsync("v1/accounts/w1/token")).RootElement;
        Assert.Equal("sk-ant-oat01-SCOPED-w1", token.GetProperty("accessToken").GetString());
        Assert.Equal(HttpStatusCode.Accepted,
            (await worker.PostAsync("v1/accounts/w1/rejected", Json("""{"accessToken":"sk-ant-oat01-other"}"""))).StatusCode);

        await AssertScopeRefusedAsync(await worker.PostAsync("v1/accounts", Json(
            $$"""{"id":"w2","provider":"claude","refreshToken":"{{RefreshToken}}"}""")), "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.PostAsync("v1/import/claude?id=w1", Json(
            $$"""{"claudeAiOauth":{"accessToken":"sk-ant-oat01-ATTACKER","refreshToken":"sk-ant-ort01-ATTACKER","expiresAt":{{BrokerServer.Now.AddHours(3).ToUnixTimeMilliseconds()}} } }""")),
            "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.PostAsync("v1/accounts/w1/block", Json("""{"reason":"x"}""")), "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.PostAsync("v1/accounts/w1/unblock", null), "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.PostAsync("v1/accounts/w1/refresh", null), "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.DeleteAsync("v1/accounts/w1"), "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.PutAsync("v1/pools/p", Json("""{"accounts":["w1"]}""")), "admin", WorkerKey);
        await AssertScopeRefusedAsync(await worker.GetAsync("v1/accounts"), "read", WorkerKey);
        await AssertScopeRefusedAsync(await worker.GetAsync(""), "read", WorkerKey);

        // Nothing the refused calls asked for happened.
        Assert.Null(server.Tokens.CredentialsOf("w2"));
        Assert.Equal(RefreshToken, server.Tokens.CredentialsOf("w1")!.RefreshToken!.Reveal());
        Assert.Equal("Valid", JsonDocument.Parse(await server.Client.GetStringAsync("v1/accounts/w1")).RootElement.GetProperty("state").GetString());
    }

    [Fact]
    public async Task An_admin_key_registers_blocks_unblocks_and_removes()
    {
        await using var server = await BrokerServer.StartAsync(AllKey, ScopedKeys());
        using var admin = ClientWith(server, AdminKey);
        await RegisterAsync(admin, "a1");
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync("v1/accounts/a1/block", Json("""{"reason":"offboarding"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync("v1/accounts/a1/unblock", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync("v1/accounts/a1")).StatusCode);
        Assert.Null(server.Tokens.CredentialsOf("a1"));
    }

    [Fact]
    public async Task A_read_key_sees_status_lists_the_page_and_metrics_but_no_token()
    {
        await using var server = await BrokerServer.StartAsync(AllKey, ScopedKeys());
        using var reader = ClientWith(server, ReadKey);
        await RegisterAsync(server.Client, "r1");

        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("v1/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("v1/accounts/r1")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("v1/pools")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("metrics")).StatusCode);

        var refused = await reader.GetAsync("v1/accounts/r1/token");
        await AssertScopeRefusedAsync(refused, "tokens", ReadKey);
        Assert.DoesNotContain("sk-ant-oat01-SCOPED-r1", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertScopeRefusedAsync(await reader.PostAsync("v1/accounts/r1/block", Json("""{"reason":"x"}""")), "admin", ReadKey);
    }

    [Fact]
    public async Task A_named_key_alone_protects_the_api_and_a_wrong_key_is_still_401()
    {
        await using var server = await BrokerServer.StartAsync(key: null, ScopedKeys());
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.GetAsync("v1/accounts/x/token")).StatusCode);
        using var wrong = ClientWith(server, WorkerKey[..^1] + "X");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("v1/accounts/x/token")).StatusCode);
        using var worker = ClientWith(server, WorkerKey);
        Assert.Equal(HttpStatusCode.NotFound, (await worker.GetAsync("v1/accounts/x/token")).StatusCode);
    }

    [Theory]
    [InlineData("ActorRefresh:Api:Keys:worker:Scopes", "tokens,write", "ActorRefresh:Api:Keys:worker:Scopes names 'write'")]
    [InlineData("ActorRefresh:Api:Keys:worker:Scopes", " , ", "ActorRefresh:Api:Keys:worker:Scopes is empty")]
    [InlineData("ActorRefresh:Api:Keys:worker:Key", "short-key", "ActorRefresh:Api:Keys:worker:Key is too weak")]
    [InlineData("ActorRefresh:Api:Keys:worker:Key", "", "ActorRefresh:Api:Keys:worker has no key")]
    [InlineData("ActorRefresh:Api:Keys:worker:Key", ReadKey, "ActorRefresh:Api:Keys:worker has the same key as ActorRefresh:Api:Keys:dashboard")]
    [InlineData("ActorRefresh:Api:Keys:worker:KeyFile", "/nonexistent/worker.key", "Set either ActorRefresh:Api:Keys:worker:Key or ActorRefresh:Api:Keys:worker:KeyFile")]
    public async Task A_bad_named_key_refuses_start_naming_the_key(string setting, string value, string expected)
    {
        var settings = ScopedKeys();
        settings[setting] = value;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => BrokerServer.StartAsync(AllKey, settings));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(WorkerKey, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_key_file_is_checked_like_the_key_file()
    {
        var folder = Directory.CreateTempSubdirectory("actorrefresh-scoped-");
        try
        {
            var file = Path.Combine(folder.FullName, "worker.key");
            await File.WriteAllTextAsync(file, WorkerKey + "\n");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            var settings = ScopedKeys();
            settings["ActorRefresh:Api:Keys:worker:Key"] = null;
            settings["ActorRefresh:Api:Keys:worker:KeyFile"] = file;
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => BrokerServer.StartAsync(AllKey, settings));
            Assert.Contains("ActorRefresh:Api:Keys:worker:KeyFile", error.Message, StringComparison.Ordinal);

            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await using var server = await BrokerServer.StartAsync(AllKey, settings);
            using var worker = ClientWith(server, WorkerKey);
            await RegisterAsync(server.Client, "f1");
            Assert.Equal(HttpStatusCode.OK, (await worker.GetAsync("v1/accounts/f1/token")).StatusCode);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
