using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace ActorRefresh.Host.Api;

/// <summary>
/// The OpenAPI document at <see cref="DocumentPath"/>. Every operation carries the key scope its route declares
/// (<see cref="ScopeRequirement"/>) twice: as a bearer security requirement naming the scope and as the
/// <see cref="ScopeExtension"/> extension (<c>public</c> for routes that need no key). The document is public like
/// the probes and <c>/metrics</c>: it describes routes and shapes, which the source and README describe too, and
/// holds no key, token or account. It lists no server: clients use the address they reached it at, and the document
/// stays the same on every port (a test compares it with <c>docs/openapi.json</c>).
/// </summary>
internal static class OpenApiDescription
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    public const string ScopeExtension = "x-actorrefresh-scope";
    public const string PublicScope = "public";
    public const string SecuritySchemeName = "apiKey";
    public const string MetricsPath = "/metrics";

    public static IServiceCollection AddActorRefreshOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(DocumentName, options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                Describe(document);
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                var scope = metadata.OfType<ScopeRequirement>().LastOrDefault()?.Scope;
                DeclareAccess(operation, context.Document, scope);
                return Task.CompletedTask;
            });
        });

    /// <summary>Maps the document, public like the probes.</summary>
    public static IEndpointConventionBuilder MapActorRefreshOpenApi(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapOpenApi(DocumentPath).Public();

    private static void Describe(OpenApiDocument document)
    {
        document.Info = new OpenApiInfo
        {
            Title = "ActorRefresh broker",
            Version = DocumentName,
            Description = "The HTTP token broker of actor-refresh serve. Protected routes need 'Authorization: Bearer <key>' "
                + "with a key holding the scope named by the operation's security requirement and its '" + ScopeExtension + "' extension "
                + "(tokens, admin or read; the single ActorRefresh:Api:Key has all three). Errors are RFC 7807 problem details.",
        };
        // The address a client reached the server at is the one to use; a listed one would name this run's port.
        document.Servers = [];
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
        document.Components.SecuritySchemes[SecuritySchemeName] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key (ActorRefresh:Api:Key, or a named key under ActorRefresh:Api:Keys with its scopes). "
                + "Never accepted in the query string.",
        };

        // The Prometheus scrape is mapped by the exporter, not as a minimal API, so it is described here.
        var metrics = new OpenApiOperation
        {
            Summary = "Prometheus metrics",
            Description = "Counts and states in the Prometheus text format; never a token or account secret. Needs no key.",
            Tags = new HashSet<OpenApiTagReference> { new("Operations", document) },
            Responses = new OpenApiResponses
            {
                ["200"] = new OpenApiResponse
                {
                    Description = "OK",
                    Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
                    {
                        ["text/plain"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
                    },
                },
            },
        };
        DeclareAccess(metrics, document, scope: null);
        document.Paths ??= new OpenApiPaths();
        document.Paths[MetricsPath] = new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation> { [HttpMethod.Get] = metrics },
        };
    }

    /// <summary>The scope as a security requirement and an extension; the key middleware's refusals on protected routes.</summary>
    private static void DeclareAccess(OpenApiOperation operation, OpenApiDocument? document, string? scope)
    {
        operation.Extensions ??= new Dictionary<string, IOpenApiExtension>(StringComparer.Ordinal);
        operation.Extensions[ScopeExtension] = new JsonNodeExtension(JsonValue.Create(scope ?? PublicScope));
        if (scope is null)
        {
            operation.Security = [];
            return;
        }
        operation.Security =
        [
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SecuritySchemeName, document)] = [scope] },
        ];
        operation.Responses ??= new OpenApiResponses();
        AddProblem(operation, document, StatusCodes.Status401Unauthorized, "No key, or not a configured key.");
        AddProblem(operation, document, StatusCodes.Status403Forbidden,
            $"The key lacks the '{scope}' scope (or, without a configured key, the request is not a local one).");
        AddProblem(operation, document, StatusCodes.Status429TooManyRequests,
            "This address presented too many failed keys; see Retry-After.");
    }

    private static void AddProblem(OpenApiOperation operation, OpenApiDocument? document, int status, string description)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key)) return;
        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
            {
                ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference("ProblemDetails", document) },
            },
        };
    }
}
