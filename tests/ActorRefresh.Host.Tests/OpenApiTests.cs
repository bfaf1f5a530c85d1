using System.Net;
using System.Text.Json;
using ActorRefresh.Host.Api;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// The OpenAPI document served at <c>/openapi/v1.json</c> over real HTTP on loopback: it lists every mapped route with
/// the scope the route declares, and it is the one checked into <c>docs/openapi.json</c>. When it differs, the served
/// one is written to <c>docs/openapi.received.json</c>; to accept the change, move it over <c>docs/openapi.json</c>.
/// </summary>
public sealed class OpenApiTests
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    private static async Task<JsonElement> FetchAsync(BrokerServer server)
    {
        // Public: no key is sent.
        var response = await server.Anonymous.GetAsync("openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>"GET /v1/accounts/{id}" → the scope the route declares ("public" when it needs no key).</summary>
    private static Dictionary<string, string> MappedRoutes(BrokerServer server)
    {
        var routes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var endpoint in server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var path = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
            if (path == OpenApiDescription.DocumentPath) continue; // the document does not describe itself
            var scope = endpoint.Metadata.GetMetadata<ScopeRequirement>()?.Scope ?? OpenApiDescription.PublicScope;
            var methods = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            foreach (var method in methods)
                routes[$"{method.ToUpperInvariant()} {path}"] = scope;
        }
        return routes;
    }

    private static Dictionary<string, JsonElement> Operations(JsonElement document)
    {
        var operations = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var path in document.GetProperty("paths").EnumerateObject())
            foreach (var operation in path.Value.EnumerateObject().Where(o => Methods.Contains(o.Name)))
                operations[$"{operation.Name.ToUpperInvariant()} {path.Name}"] = operation.Value;
        return operations;
    }

    [Fact]
    public async Task The_document_lists_every_mapped_route_and_nothing_else()
    {
        await using var server = await BrokerServer.StartAsync();
        var mapped = MappedRoutes(server);
        Assert.True(mapped.Count >= 25, $"only {mapped.Count} routes were found: the enumeration missed routes");
        var described = Operations(await FetchAsync(server));

        Assert.Equal(mapped.Keys.Order(StringComparer.Ordinal), described.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Every_operation_names_its_routes_scope_a_summary_and_its_problem_answers()
    {
        await using var server = await BrokerServer.StartAsync();
        var mapped = MappedRoutes(server);
        foreach (var (route, operation) in Operations(await FetchAsync(server)))
        {
            var scope = mapped[route];
            Assert.True(operation.TryGetProperty(OpenApiDescription.ScopeExtension, out var declared), route + " has no scope extension");
            Assert.Equal(scope, declared.GetString());
            Assert.False(string.IsNullOrWhiteSpace(operation.GetProperty("summary").GetString()), route + " has no summary");
            var responses = operation.GetProperty("responses");
            if (scope == OpenApiDescription.PublicScope)
            {
                Assert.False(operation.TryGetProperty("security", out var none) && none.GetArrayLength() > 0, route + " is public but asks for a key");
                continue;
            }
            var requirement = Assert.Single(operation.GetProperty("security").EnumerateArray());
            var scopes = requirement.GetProperty(OpenApiDescription.SecuritySchemeName).EnumerateArray().Select(s => s.GetString()).ToList();
            Assert.Equal([scope], scopes);
            foreach (var status in new[] { "401", "403" })
                Assert.True(responses.TryGetProperty(status, out var problem)
                    && problem.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{route} does not describe its {status}");
        }

        // Spot checks of what the routes declare: bodies, answers and the problems a caller must handle.
        var operations = Operations(await FetchAsync(server));
        var token = operations["GET /v1/accounts/{id}/token"];
        Assert.Equal("tokens", token.GetProperty(OpenApiDescription.ScopeExtension).GetString());
        foreach (var status in new[] { "200", "400", "404", "409", "503" })
            Assert.True(token.GetProperty("responses").TryGetProperty(status, out _), "the token route does not describe " + status);
        Assert.True(operations["POST /v1/accounts"].GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.True(operations["POST /v1/accounts"].GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(operations["GET /readyz"].GetProperty("responses").TryGetProperty("503", out _));
        Assert.Empty(JsonDocumentServers(await FetchAsync(server)));
    }

    private static IEnumerable<JsonElement> JsonDocumentServers(JsonElement document) =>
        document.TryGetProperty("servers", out var servers) ? servers.EnumerateArray() : [];

    [Fact]
    public async Task The_served_document_is_the_one_in_docs()
    {
        await using var server = await BrokerServer.StartAsync();
        var served = Normalize(await server.Anonymous.GetStringAsync("openapi/v1.json"));
        // Stable across runs and ports: no server URL, no port.
        Assert.DoesNotContain(server.BaseAddress.Authority, served, StringComparison.Ordinal);

        var folder = ActorRefresh.Testing.RepositoryRoot.Combine("docs");
        var approvedFile = Path.Combine(folder, "openapi.json");
        var receivedFile = Path.Combine(folder, "openapi.received.json");
        var approved = File.Exists(approvedFile) ? Normalize(await File.ReadAllTextAsync(approvedFile)) : "";
        if (approved != served)
        {
            await File.WriteAllTextAsync(receivedFile, served);
            Assert.Fail($"The served OpenAPI document differs from {approvedFile}. Compare {receivedFile} with it; to accept the change, move the first over the second.");
        }
        File.Delete(receivedFile);
    }

    private static string Normalize(string text) => text.ReplaceLineEndings("\n").TrimEnd() + "\n";
}
