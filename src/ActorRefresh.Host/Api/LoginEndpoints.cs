using System.Collections.Concurrent;
using System.Security.Cryptography;
using ActorRefresh.Core.Login;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Logging an account in over HTTP, for operators without a shell on the server: <c>POST /v1/accounts/{id}/login</c>
/// starts an authorization code login with PKCE and answers the URL to open; <c>POST /v1/logins/{loginId}</c> takes the
/// pasted <c>code#state</c> (or the callback URL), exchanges it and registers the account or gives it the new
/// credentials (clearing a dead-grant block, keeping its pools and settings). Behind the API key like every <c>/v1</c>
/// route.
/// </summary>
internal static class LoginEndpoints
{
    public static IEndpointRouteBuilder MapLoginApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1").WithTags("Logins");
        v1.MapPost("/accounts/{id}/login", StartAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Start a browser login for the account: answers the URL to open")
            .Accepts<LoginStartRequest>("application/json")
            .Produces<LoginStartResponse>(StatusCodes.Status201Created).Problems(400, 409, 413, 415, 503);
        v1.MapPost("/logins/{loginId}", CompleteAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Complete a login with the code the provider's page shows; registers or updates the account")
            .Accepts<LoginCompleteRequest>("application/json")
            .Produces<AccountStatus>().Problems(400, 404, 409, 413, 415, 502, 503);
        return endpoints;
    }

    private static async Task<IResult> StartAsync(string id, HttpRequest request, [FromServices] ITokenProvider tokens,
        [FromServices] IProviderRegistry providers, [FromServices] LoginSessions logins, CancellationToken ct)
    {
        AccountIds.Require(id);
        var body = request.ContentLength is 0 ? new LoginStartRequest() : await RequestBodies.ReadAsync<LoginStartRequest>(request, ct).ConfigureAwait(false);
        string providerName;
        if (body.Provider is { Length: > 0 } named)
            providerName = named;
        else
        {
            try
            {
                providerName = (await tokens.GetStatusAsync(id, ct).ConfigureAwait(false)).Provider;
            }
            catch (AccountNotFoundException)
            {
                providerName = BuiltInProviders.ClaudeName;
            }
        }
        if (!providers.TryGet(providerName, out var profile))
            throw new BadRequestBodyException($"unknown provider '{providerName}' (configured: {string.Join(", ", providers.Names)})");
        if (profile.AuthorizeEndpoint is null || profile.RedirectUri is null)
            throw new BadRequestBodyException($"provider '{providerName}' has no login here: set ActorRefresh:Providers:{providerName}:AuthorizeEndpoint and RedirectUri");
        var login = logins.Start(id, profile);
        return TypedResults.Created($"/v1/logins/{login.LoginId}", new LoginStartResponse(login.LoginId, login.Start.AuthorizeUrl.ToString(), login.ExpiresAt));
    }

    private static async Task<IResult> CompleteAsync(string loginId, HttpRequest request, [FromServices] ITokenProvider tokens,
        [FromServices] IProviderRegistry providers, [FromServices] CodeExchangeClient exchange, [FromServices] LoginSessions logins,
        [FromServices] Limits limits, CancellationToken ct)
    {
        var body = await RequestBodies.ReadAsync<LoginCompleteRequest>(request, ct).ConfigureAwait(false);
        if (!AuthorizationCodeLogin.TryParsePasted(body.Code, out var code, out var state))
            throw new BadRequestBodyException("'code' must be what the login page shows (code#state) or the whole callback URL.");
        // Taken once: a login is single use, whatever the exchange answers.
        if (logins.Take(loginId) is not { } login)
            return Problems.Create(StatusCodes.Status404NotFound, "No such login", "Unknown or expired login: a login is single use and lives 10 minutes; start another.");
        if (state is not null && !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(state), System.Text.Encoding.UTF8.GetBytes(login.Start.State)))
            throw new BadRequestBodyException("the pasted state does not belong to this login; start another.");
        if (!providers.TryGet(login.Provider, out var profile))
            throw new BadRequestBodyException($"provider '{login.Provider}' is no longer configured");

        var outcome = await exchange.ExchangeAsync(profile, code, login.Start.State, login.Start.Verifier, ct).ConfigureAwait(false);
        if (outcome is not RefreshOutcome.Refreshed { RefreshToken: { } refreshToken } granted)
        {
            var reason = outcome switch
            {
                RefreshOutcome.GrantRejected g => $"the provider refused the code ({g.Error}{(g.Description is null ? "" : ": " + g.Description)}); start another login",
                RefreshOutcome.Refreshed => "the provider answered without a refresh token",
                RefreshOutcome.RateLimited => "the provider is rate limiting; start another login later",
                RefreshOutcome.PolicyRefused p => $"the organisation does not allow this login: {p.Message}",
                RefreshOutcome.Rejected r => $"the provider refused the request (HTTP {r.Status}): {r.Message}",
                RefreshOutcome.Transient t => $"the provider could not be reached: {t.Reason}",
                _ => outcome.Kind,
            };
            return Problems.Create(StatusCodes.Status502BadGateway, "Login failed", reason);
        }

        var credentials = new AccountCredentials(login.AccountId, login.Provider, refreshToken, granted.AccessToken, granted.ExpiresAt);
        AccountStatus status;
        try
        {
            status = await tokens.ReplaceCredentialsAsync(credentials, ct).ConfigureAwait(false);
        }
        catch (AccountNotFoundException)
        {
            status = await limits.AddingAccountAsync(tokens, login.AccountId, () => tokens.RegisterAsync(credentials, ct), ct).ConfigureAwait(false);
        }
        return TypedResults.Ok(status);
    }
}

/// <summary>Logins started and not yet completed: in memory, single use, 10 minutes each, at most 100 at a time.</summary>
internal sealed class LoginSessions(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);
    public const int MaxPending = 100;
    private readonly ConcurrentDictionary<string, PendingLogin> _pending = new(StringComparer.Ordinal);

    public PendingLogin Start(string accountId, ProviderProfile provider)
    {
        var now = time.GetUtcNow();
        foreach (var (id, login) in _pending)
            if (login.ExpiresAt <= now) _pending.TryRemove(id, out _);
        if (_pending.Count >= MaxPending)
            throw new LimitReachedException($"{MaxPending} logins are waiting to be completed; complete or let them expire (10 minutes) first.");
        var pending = new PendingLogin(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), accountId, provider.Name,
            AuthorizationCodeLogin.Start(provider), now + Lifetime);
        _pending[pending.LoginId] = pending;
        return pending;
    }

    public PendingLogin? Take(string loginId) =>
        _pending.TryRemove(loginId, out var login) && login.ExpiresAt > time.GetUtcNow() ? login : null;
}

/// <summary>One started login; the verifier never leaves the server.</summary>
internal sealed record PendingLogin(string LoginId, string AccountId, string Provider, LoginStart Start, DateTimeOffset ExpiresAt);

internal sealed class LoginStartRequest
{
    public string? Provider { get; set; }
}

internal sealed class LoginCompleteRequest
{
    public string? Code { get; set; }
}

internal sealed record LoginStartResponse(string LoginId, string AuthorizeUrl, DateTimeOffset ExpiresAt);
