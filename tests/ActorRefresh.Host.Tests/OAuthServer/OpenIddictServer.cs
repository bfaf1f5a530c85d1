using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace ActorRefresh.Host.Tests.OAuthServer;

/// <summary>What the token endpoint answered to one request.</summary>
/// <param name="GrantType">The request's grant type.</param>
/// <param name="PresentedRefreshToken">The refresh token the request presented (refresh_token grant).</param>
/// <param name="AccessToken">The access token issued, if any.</param>
/// <param name="RefreshToken">The refresh token issued, if any.</param>
/// <param name="Error">The error answered, if any.</param>
internal sealed record TokenAnswer(string? GrantType, string? PresentedRefreshToken, string? AccessToken, string? RefreshToken, string? Error);

/// <summary>
/// A real OAuth 2.0 authorization server (OpenIddict) on 127.0.0.1 with an EF Core store, so tokens are stored and a
/// reused refresh token is detected: authorization code with PKCE (required), refresh tokens rotated on every use with no
/// reuse leeway, and the device authorization grant. One public native client whose loopback redirect is registered.
/// The authorize and end-user verification pages approve a fixed test user at once: the test plays that user's browser.
/// Everything else is OpenIddict's default.
/// </summary>
internal sealed class OpenIddictServer : IAsyncDisposable
{
    public const string ClientId = "actor-refresh-cli";
    public const string User = "oidc-test-user";
    private const string Scheme = OpenIddictServerAspNetCoreDefaults.AuthenticationScheme;
    private readonly WebApplication _app;
    private readonly SqliteConnection _database;

    private OpenIddictServer(WebApplication app, SqliteConnection database)
    {
        _app = app;
        _database = database;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public Uri AuthorizeEndpoint => new(BaseAddress, "connect/authorize");

    public Uri TokenEndpoint => new(BaseAddress, "connect/token");

    public Uri DeviceEndpoint => new(BaseAddress, "connect/device");

    /// <summary>Every answer of the token endpoint, in order.</summary>
    public ConcurrentQueue<TokenAnswer> TokenAnswers { get; } = new();

    /// <summary>Starts the server with <paramref name="redirectUri"/> registered for the client.</summary>
    public static async Task<OpenIddictServer> StartAsync(Uri redirectUri)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        // SQLite in memory, kept by one open connection: a relational store, whose bulk updates OpenIddict's reuse
        // detection needs to revoke a whole grant (EF Core's InMemory provider cannot run them).
        var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        builder.Services.AddDbContext<DbContext>(options =>
        {
            options.UseSqlite(connection);
            options.UseOpenIddict();
        });
        OpenIddictServer? server = null;
        builder.Services.AddOpenIddict()
            .AddCore(options => options.UseEntityFrameworkCore().UseDbContext<DbContext>())
            .AddServer(options =>
            {
                options.SetAuthorizationEndpointUris("connect/authorize")
                    .SetTokenEndpointUris("connect/token")
                    .SetDeviceAuthorizationEndpointUris("connect/device")
                    .SetEndUserVerificationEndpointUris("connect/verify");
                options.AllowAuthorizationCodeFlow().AllowRefreshTokenFlow().AllowDeviceAuthorizationFlow();
                options.RequireProofKeyForCodeExchange();
                // A redeemed refresh token presented again is a reuse at once (OpenIddict's default allows 30 s).
                options.SetRefreshTokenReuseLeeway(TimeSpan.Zero);
                options.RegisterScopes(Scopes.OfflineAccess);
                options.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
                options.UseAspNetCore()
                    .DisableTransportSecurityRequirement() // plain HTTP on loopback in the test
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableEndUserVerificationEndpointPassthrough();
                options.AddEventHandler<ApplyTokenResponseContext>(handler => handler.UseInlineHandler(context =>
                {
                    server!.TokenAnswers.Enqueue(new TokenAnswer(context.Request?.GrantType, context.Request?.RefreshToken,
                        context.Response.AccessToken, context.Response.RefreshToken, context.Response.Error));
                    return default;
                }));
            });
        var app = builder.Build();
        server = new OpenIddictServer(app, connection);
        app.UseAuthentication();
        app.MapMethods("connect/authorize", ["GET", "POST"], (HttpContext context) =>
        {
            var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenIddict request");
            return Results.SignIn(UserPrincipal(request.GetScopes()), authenticationScheme: Scheme);
        });
        app.MapPost("connect/token", async (HttpContext context) =>
        {
            // Code, refresh token and device code grants: OpenIddict has validated the grant; sign in its principal again.
            var granted = await context.AuthenticateAsync(Scheme);
            if (!granted.Succeeded) return Results.Forbid(authenticationSchemes: [Scheme]);
            var identity = new ClaimsIdentity(granted.Principal!.Claims, TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
            identity.SetDestinations(_ => [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: Scheme);
        });
        app.MapMethods("connect/verify", ["GET", "POST"], async (HttpContext context) =>
        {
            // The user opened the verification URL with the user code: approve it as the test user.
            var code = await context.AuthenticateAsync(Scheme);
            if (!code.Succeeded || string.IsNullOrEmpty(code.Principal!.GetClaim(Claims.ClientId)))
                return Results.BadRequest("unknown or expired user code");
            return Results.SignIn(UserPrincipal(code.Principal.GetScopes()), new AuthenticationProperties { RedirectUri = "/" }, Scheme);
        });
        app.MapGet("/", () => Results.Text("approved"));
        await app.StartAsync();
        server.BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/");

        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DbContext>().Database.EnsureCreatedAsync();
        var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        await applications.CreateAsync(new OpenIddictApplicationDescriptor
        {
            ClientId = ClientId,
            ClientType = ClientTypes.Public,
            ApplicationType = ApplicationTypes.Native,
            RedirectUris = { redirectUri },
            Permissions =
            {
                Permissions.Endpoints.Authorization,
                Permissions.Endpoints.Token,
                Permissions.Endpoints.DeviceAuthorization,
                Permissions.GrantTypes.AuthorizationCode,
                Permissions.GrantTypes.RefreshToken,
                Permissions.GrantTypes.DeviceCode,
                Permissions.ResponseTypes.Code,
                Permissions.Prefixes.Scope + Scopes.OfflineAccess,
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        });
        return server;
    }

    private static ClaimsPrincipal UserPrincipal(IEnumerable<string> scopes)
    {
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, User).SetClaim(Claims.Name, User);
        identity.SetScopes(scopes);
        identity.SetDestinations(_ => [Destinations.AccessToken]);
        return new ClaimsPrincipal(identity);
    }

    /// <summary>The refresh tokens OpenIddict has stored, by status (valid, redeemed, revoked).</summary>
    public async Task<Dictionary<string, int>> RefreshTokenStatusesAsync()
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var tokens = scope.ServiceProvider.GetRequiredService<IOpenIddictTokenManager>();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var token in tokens.ListAsync())
        {
            // Stored as the token type identifier (urn:ietf:params:oauth:token-type:refresh_token).
            if (await tokens.GetTypeAsync(token) is not { } type || !type.EndsWith(TokenTypeHints.RefreshToken, StringComparison.Ordinal)) continue;
            var status = await tokens.GetStatusAsync(token) ?? "?";
            counts[status] = counts.GetValueOrDefault(status) + 1;
        }
        return counts;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _database.DisposeAsync();
    }
}
