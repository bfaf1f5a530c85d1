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
/// starts an authorization code login with PKCE and answers the URL to open (or, with <c>device</c>, a device
/// authorization's user code, which the broker then polls for); <c>POST /v1/logins/{loginId}</c> takes the pasted
/// <c>code#state</c> (or the callback URL), exchanges it and registers the account or gives it the new credentials
/// (clearing a dead-grant block, keeping its pools and settings), or for a device login waits for its end. Behind the API
/// key like every <c>/v1</c> route.
/// </summary>
internal static class LoginEndpoints
{
    /// <summary>How long one <c>POST /v1/logins/{loginId}</c> waits for a device login before answering 202 (under the CLI's 30 s).</summary>
    internal static readonly TimeSpan DeviceWait = TimeSpan.FromSeconds(20);

    public static IEndpointRouteBuilder MapLoginApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1").WithTags("Logins");
        v1.MapPost("/accounts/{id}/login", StartAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Start a login for the account: answers the URL to open, or with device the user code to enter")
            .Accepts<LoginStartRequest>("application/json")
            .Produces<LoginStartResponse>(StatusCodes.Status201Created).Problems(400, 409, 413, 415, 502, 503);
        v1.MapPost("/logins/{loginId}", CompleteAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Complete a login with the code the provider's page shows, or wait for a device login; registers or updates the account")
            .Accepts<LoginCompleteRequest>("application/json")
            .Produces<AccountStatus>().Produces<LoginPendingResponse>(StatusCodes.Status202Accepted).Problems(400, 404, 409, 413, 415, 502, 503);
        return endpoints;
    }

    private static async Task<IResult> StartAsync(string id, HttpRequest request, [FromServices] IAccountAdmin accounts,
        [FromServices] IProviderRegistry providers, [FromServices] LoginSessions logins, [FromServices] DeviceLoginClient device,
        [FromServices] Limits limits, CancellationToken ct)
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
                providerName = (await accounts.GetStatusAsync(id, ct).ConfigureAwait(false)).Provider;
            }
            catch (AccountNotFoundException)
            {
                providerName = BuiltInProviders.ClaudeName;
            }
        }
        if (!providers.TryGet(providerName, out var profile))
            throw new BadRequestBodyException($"unknown provider '{providerName}' (configured: {string.Join(", ", providers.Names)})");
        if (body.Device)
            return await StartDeviceAsync(id, profile, accounts, logins, device, limits, ct).ConfigureAwait(false);

        if (profile.AuthorizeEndpoint is null)
            throw new BadRequestBodyException($"provider '{providerName}' has no login here: set ActorRefresh:Providers:{providerName}:AuthorizeEndpoint");
        Uri? offered = null;
        if (body.RedirectUri is { Length: > 0 } text && (!Uri.TryCreate(text, UriKind.Absolute, out offered) || !LoopbackRedirect.IsLoopback(offered)))
            throw new BadRequestBodyException("'redirectUri' must be a loopback redirect http://127.0.0.1:<port>/<path> (RFC 8252), without query.");
        // A profile's own redirect wins: Claude's code page, or a loopback port registered with the provider.
        var redirect = profile.RedirectUri ?? offered
            ?? throw new BadRequestBodyException($"provider '{providerName}' redirects to a loopback listener: give 'redirectUri' (http://127.0.0.1:<port>/callback), as 'actor-refresh login' does");
        var login = logins.Start(id, profile, redirect);
        return TypedResults.Created($"/v1/logins/{login.LoginId}", new LoginStartResponse(login.LoginId, login.ExpiresAt)
        {
            AuthorizeUrl = login.Start!.AuthorizeUrl.ToString(),
            RedirectUri = redirect.ToString(),
        });
    }

    private static async Task<IResult> StartDeviceAsync(string id, ProviderProfile profile, IAccountAdmin accounts, LoginSessions logins,
        DeviceLoginClient device, Limits limits, CancellationToken ct)
    {
        if (profile.DeviceAuthorizationEndpoint is null)
            throw new BadRequestBodyException($"provider '{profile.Name}' has no device login: set ActorRefresh:Providers:{profile.Name}:DeviceAuthorizationEndpoint");
        logins.EnsureRoom();
        // Current here, so the poll (started below, on the captured context) and its HTTP calls are its children.
        var span = LoginSpan.Start(id, profile.Name, LoginSpan.Device);
        DeviceAuthorization? authorization;
        PendingLogin login;
        try
        {
            (authorization, var failure) = await device.StartAsync(profile, ct).ConfigureAwait(false);
            if (authorization is null)
            {
                span.End("authorization_failed");
                return Problems.Create(StatusCodes.Status502BadGateway, "Login failed", failure!);
            }
            login = logins.StartDevice(id, profile.Name, authorization, async cancel =>
            {
                using (span)
                {
                    try
                    {
                        var (granted, refused) = await device.PollAsync(profile, authorization, cancel).ConfigureAwait(false);
                        if (granted is null)
                        {
                            span.End(refused!.Kind);
                            return new DeviceLoginResult(null, refused.Reason);
                        }
                        var saved = await SaveAsync(accounts, limits, id, profile.Name, granted, cancel).ConfigureAwait(false);
                        span.End(LoginSpan.LoggedIn);
                        return new DeviceLoginResult(saved, null);
                    }
                    catch (OperationCanceledException)
                    {
                        span.End("canceled"); // expired (the backstop) or the broker stopping
                        throw;
                    }
                }
            });
        }
        catch (Exception exception)
        {
            // Ends here only when the poll never started: a full login table, or the caller gone mid-request.
            span.End(exception is LimitReachedException ? "limit_reached" : "error");
            throw;
        }
        return TypedResults.Created($"/v1/logins/{login.LoginId}", new LoginStartResponse(login.LoginId, login.ExpiresAt)
        {
            UserCode = authorization.UserCode,
            VerificationUri = authorization.VerificationUri.ToString(),
            VerificationUriComplete = authorization.VerificationUriComplete?.ToString(),
            Interval = (int)authorization.Interval.TotalSeconds,
        });
    }

    private static async Task<IResult> CompleteAsync(string loginId, HttpRequest request, [FromServices] IAccountAdmin accounts,
        [FromServices] IProviderRegistry providers, [FromServices] CodeExchangeClient exchange, [FromServices] LoginSessions logins,
        [FromServices] Limits limits, [FromServices] TimeProvider time, CancellationToken ct)
    {
        var body = request.ContentLength is 0 ? new LoginCompleteRequest() : await RequestBodies.ReadAsync<LoginCompleteRequest>(request, ct).ConfigureAwait(false);
        if (logins.Peek(loginId) is not { } pending)
            return UnknownLogin();
        if (pending.Poll is { } poll)
            return await WaitForDeviceAsync(pending, poll, body, logins, time, ct).ConfigureAwait(false);
        if (!AuthorizationCodeLogin.TryParsePasted(body.Code, out var code, out var state))
            throw new BadRequestBodyException("'code' must be what the login page shows (code#state) or the whole callback URL.");
        // Taken once: a login is single use, whatever the exchange answers.
        if (logins.Take(loginId) is not { Start: { } start } login)
            return UnknownLogin();
        using var span = LoginSpan.Start(login.AccountId, login.Provider, LoopbackRedirect.IsLoopback(start.RedirectUri) ? LoginSpan.Loopback : LoginSpan.Paste);
        if (state is not null && !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(state), System.Text.Encoding.UTF8.GetBytes(start.State)))
        {
            span.End("state_mismatch");
            throw new BadRequestBodyException("the pasted state does not belong to this login; start another.");
        }
        if (!providers.TryGet(login.Provider, out var profile))
        {
            span.End("provider_unknown");
            throw new BadRequestBodyException($"provider '{login.Provider}' is no longer configured");
        }

        var outcome = await exchange.ExchangeAsync(profile, code, start, ct).ConfigureAwait(false);
        if (outcome is not RefreshOutcome.Refreshed { RefreshToken: not null } granted)
        {
            span.End(outcome is RefreshOutcome.Refreshed ? "no_refresh_token" : outcome.Kind);
            return Problems.Create(StatusCodes.Status502BadGateway, "Login failed", Describe(outcome));
        }
        var saved = await SaveAsync(accounts, limits, login.AccountId, login.Provider, granted, ct).ConfigureAwait(false);
        span.End(LoginSpan.LoggedIn);
        return TypedResults.Ok(saved);
    }

    /// <summary>Waits a while for the broker's poll: its end is answered once (then the login is gone), else 202.</summary>
    private static async Task<IResult> WaitForDeviceAsync(PendingLogin login, Task<DeviceLoginResult> poll, LoginCompleteRequest body, LoginSessions logins,
        TimeProvider time, CancellationToken ct)
    {
        if (body.Code is { Length: > 0 })
            throw new BadRequestBodyException("this is a device login: the user enters the user code at the verification URL; post {} to wait for it.");
        try
        {
            await poll.WaitAsync(DeviceWait, time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return TypedResults.Accepted($"/v1/logins/{login.LoginId}", new LoginPendingResponse(login.LoginId, "pending", login.ExpiresAt));
        }
        if (!logins.Remove(login))
            return UnknownLogin();
        var result = await poll.ConfigureAwait(false);
        return result.Status is { } status
            ? TypedResults.Ok(status)
            : Problems.Create(StatusCodes.Status502BadGateway, "Login failed", result.Failure ?? "the device login ended without tokens");
    }

    private static IResult UnknownLogin() =>
        Problems.Create(StatusCodes.Status404NotFound, "No such login", "Unknown or expired login: a login is single use and lives 10 minutes; start another.");

    private static string Describe(RefreshOutcome outcome) => outcome switch
    {
        RefreshOutcome.GrantRejected g => $"the provider refused the code ({g.Error}{(g.Description is null ? "" : ": " + g.Description)}); start another login",
        RefreshOutcome.Refreshed => "the provider answered without a refresh token",
        RefreshOutcome.RateLimited => "the provider is rate limiting; start another login later",
        RefreshOutcome.PolicyRefused p => $"the organisation does not allow this login: {p.Message}",
        RefreshOutcome.Rejected r => $"the provider refused the request (HTTP {r.Status}): {r.Message}",
        RefreshOutcome.Transient t => $"the provider could not be reached: {t.Reason}",
        _ => outcome.Kind,
    };

    /// <summary>Registers the account, or gives an existing one the new credentials (clearing a dead-grant block).</summary>
    private static async Task<AccountStatus> SaveAsync(IAccountAdmin accounts, Limits limits, string accountId, string provider,
        RefreshOutcome.Refreshed granted, CancellationToken ct)
    {
        var credentials = new AccountCredentials(accountId, provider, granted.RefreshToken!, granted.AccessToken, granted.ExpiresAt);
        try
        {
            return await accounts.ReplaceCredentialsAsync(credentials, ct).ConfigureAwait(false);
        }
        catch (AccountNotFoundException)
        {
            return await limits.AddingAccountAsync(accounts, accountId, () => accounts.RegisterAsync(credentials, ct), ct).ConfigureAwait(false);
        }
    }
}

internal sealed class LoginStartRequest
{
    public string? Provider { get; set; }

    /// <summary>The loopback redirect the caller listens on (RFC 8252), used when the profile names no redirect of its own.</summary>
    public string? RedirectUri { get; set; }

    /// <summary>Log in with the device authorization grant (RFC 8628) instead of a browser redirect.</summary>
    public bool Device { get; set; }
}

internal sealed class LoginCompleteRequest
{
    public string? Code { get; set; }
}

/// <summary>A started login: a browser login's URL and redirect, or a device login's user code and where to enter it.</summary>
internal sealed record LoginStartResponse(string LoginId, DateTimeOffset ExpiresAt)
{
    public string? AuthorizeUrl { get; init; }
    public string? RedirectUri { get; init; }
    public string? UserCode { get; init; }
    public string? VerificationUri { get; init; }
    public string? VerificationUriComplete { get; init; }
    public int? Interval { get; init; }
}

/// <summary>A device login the user has not approved yet.</summary>
internal sealed record LoginPendingResponse(string LoginId, string Status, DateTimeOffset ExpiresAt);
