using ActorRefresh.Core.Credentials;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using System.ComponentModel;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Api;

/// <summary>
/// The <c>/v1</c> token broker over <see cref="ITokenProvider"/>. Authentication (<see cref="ApiKeyAuthenticationHandler"/>)
/// and error mapping (<see cref="ApiExceptionHandler"/>) are middleware, so handlers only call the provider and throw.
/// </summary>
internal static class ApiEndpoints
{
    public const string ClaudeProvider = "claude";

    public static IEndpointRouteBuilder MapActorRefreshApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1").WithTags("Accounts");
        v1.MapGet("/accounts", ListAsync).RequireScope(ApiScopes.Read)
            .WithSummary("List every account's status (no token)")
            .Produces<IReadOnlyList<AccountStatus>>().Problems(503);
        v1.MapPost("/accounts", RegisterAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Register an account with its refresh token (and optionally a current access token), or a long-lived access token without one")
            .Accepts<RegisterRequest>("application/json")
            .Produces<AccountStatus>(StatusCodes.Status201Created).Problems(400, 409, 413, 415, 503);
        v1.MapGet("/accounts/{id}", StatusAsync).RequireScope(ApiScopes.Read)
            .WithSummary("One account's status (no token)")
            .Produces<AccountStatus>().Problems(400, 404, 503);
        v1.MapDelete("/accounts/{id}", RemoveAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Remove an account and delete its stored history")
            .Produces<RemovalAnswer>().Problems(400, 404, 503);
        v1.MapGet("/accounts/{id}/token", TokenAsync).RequireScope(ApiScopes.Tokens)
            .WithSummary("A valid access token for the account, refreshed first when it is due")
            .Produces<TokenResponse>().Problems(400, 404, 409, 503);
        v1.MapPost("/accounts/{id}/rejected", RejectedAsync).RequireScope(ApiScopes.Tokens)
            .WithSummary("Report that the provider rejected this access token (the account refreshes)")
            .Accepts<RejectedRequest>("application/json")
            .Produces(StatusCodes.Status202Accepted).Problems(400, 404, 409, 413, 415, 503);
        v1.MapPost("/accounts/{id}/refresh", RefreshAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Refresh the account's token now")
            .Produces<AccountStatus>().Problems(400, 404, 409, 503);
        v1.MapPost("/accounts/{id}/unblock", UnblockAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Unblock a blocked account")
            .Produces<AccountStatus>().Problems(400, 404, 503);
        v1.MapPost("/accounts/{id}/block", BlockAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Block an account with a reason: no token is served or refreshed until it is unblocked")
            .Accepts<BlockRequest>("application/json")
            .Produces<AccountStatus>().Problems(400, 404, 413, 415, 503);
        v1.MapPost("/import/claude", ImportClaudeAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Register or update an account from a Claude credentials file (optionally kept in sync with a file on the server)")
            .Accepts<System.Text.Json.JsonElement>("application/json")
            .Produces<AccountStatus>().Produces<AccountStatus>(StatusCodes.Status201Created).Problems(400, 409, 413, 415, 503);
        v1.MapGet("/cluster", ClusterAsync).RequireScope(ApiScopes.Read).WithTags("Cluster")
            .WithSummary("Cluster members, their state and roles, and accounts per member")
            .Produces<ClusterStatus>().Produces(StatusCodes.Status404NotFound).Problems(503);
        v1.MapGet("/cluster/read-side", ReadSide).RequireScope(ApiScopes.Read).WithTags("Cluster")
            .WithSummary("Ids of the accounts this node serves from its read side now")
            .Produces<ReadSideAnswer>().Produces(StatusCodes.Status404NotFound);
        endpoints.MapPoolApi();
        return endpoints;
    }

    /// <summary>Members, their state and roles, and accounts per member. 404 when the engine has no cluster view (a test double).</summary>
    private static async Task<IResult> ClusterAsync(HttpContext context, CancellationToken ct) =>
        context.RequestServices.GetService<ClusterStatusReader>() is { } cluster
            ? TypedResults.Ok(await cluster.GetAsync(ct).ConfigureAwait(false))
            : TypedResults.NotFound();

    /// <summary>Ids of the accounts this node serves from its read side now. 404 when the engine has no cluster view.</summary>
    private static IResult ReadSide(HttpContext context) =>
        context.RequestServices.GetService<ClusterStatusReader>() is { } cluster
            ? TypedResults.Ok(new ReadSideAnswer(cluster.FreshTokens()))
            : TypedResults.NotFound();

    private static async Task<IResult> ListAsync(IAccountAdmin accounts, CancellationToken ct) =>
        TypedResults.Ok(await accounts.ListAsync(ct).ConfigureAwait(false));

    private static async Task<IResult> StatusAsync(string id, IAccountAdmin accounts, CancellationToken ct) =>
        TypedResults.Ok(await accounts.GetStatusAsync(AccountIds.Require(id), ct).ConfigureAwait(false));

    private static async Task<IResult> RemoveAsync(string id, IAccountAdmin accounts, SyncBindings bindings, CancellationToken ct)
    {
        // The engine answers once the removal is journaled and the account's events and snapshots are deleted.
        await accounts.RemoveAsync(AccountIds.Require(id), ct).ConfigureAwait(false);
        await bindings.ReleaseAsync(id, ct).ConfigureAwait(false);
        return TypedResults.Ok(new RemovalAnswer(id, Removed: true, HistoryDeleted: true,
            "the account is removed and its stored events and snapshots (every token it held, encrypted) are deleted"));
    }

    /// <summary>The answer to <c>GET /v1/cluster/read-side</c>.</summary>
    private sealed record ReadSideAnswer(IReadOnlyList<string> FreshTokens);

    /// <summary>The answer to a removal.</summary>
    private sealed record RemovalAnswer(string Id, bool Removed, bool HistoryDeleted, string Detail);

    private static async Task<IResult> RefreshAsync(string id, IAccountAdmin accounts, CancellationToken ct) =>
        TypedResults.Ok(await accounts.ForceRefreshAsync(AccountIds.Require(id), ct).ConfigureAwait(false));

    private static async Task<IResult> UnblockAsync(string id, IAccountAdmin accounts, CancellationToken ct) =>
        TypedResults.Ok(await accounts.UnblockAsync(AccountIds.Require(id), ct).ConfigureAwait(false));

    private static async Task<IResult> BlockAsync(string id, HttpRequest request, IAccountAdmin accounts, CancellationToken ct)
    {
        AccountIds.Require(id);
        var body = await RequestBodies.ReadAsync<BlockRequest>(request, ct).ConfigureAwait(false);
        var reason = RequestBodies.RequireText(body.Reason, "reason");
        return TypedResults.Ok(await accounts.BlockAsync(id, reason, ct).ConfigureAwait(false));
    }

    private static async Task<IResult> RejectedAsync(string id, HttpRequest request, ITokenProvider tokens, CancellationToken ct)
    {
        AccountIds.Require(id);
        var body = await RequestBodies.ReadAsync<RejectedRequest>(request, ct).ConfigureAwait(false);
        var token = RequestBodies.RequireText(body.AccessToken, "accessToken");
        await tokens.ReportRejectedAsync(id, token, ct).ConfigureAwait(false);
        return TypedResults.Accepted((string?)null);
    }

    private static async Task<IResult> TokenAsync(string id, ITokenProvider tokens, HostMetrics metrics, CancellationToken ct)
    {
        AccountIds.Require(id);
        try
        {
            var token = await tokens.GetTokenAsync(id, ct).ConfigureAwait(false);
            metrics.TokenRequest(HostMetrics.Answers.Served);
            return TypedResults.Ok(new TokenResponse(token.Value.Reveal(), token.ExpiresAt));
        }
        catch (ActorRefreshException exception)
        {
            metrics.TokenRequest(exception switch
            {
                TokenBackingOffException => HostMetrics.Answers.BackingOff,
                AccountBlockedException => HostMetrics.Answers.Blocked,
                AccountNotFoundException => HostMetrics.Answers.NotFound,
                _ => HostMetrics.Answers.Error,
            });
            throw;
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            metrics.TokenRequest(HostMetrics.Answers.Error);
            throw;
        }
    }

    private static async Task<IResult> RegisterAsync(HttpRequest request, IAccountAdmin accounts, TimeProvider time, Limits limits, CancellationToken ct)
    {
        var body = await RequestBodies.ReadAsync<RegisterRequest>(request, ct).ConfigureAwait(false);
        var id = AccountIds.Require(RequestBodies.RequireText(body.Id, "id"));
        var provider = RequestBodies.RequireText(body.Provider, "provider");
        // No refresh token: a long-lived access token (claude setup-token), served until it expires and never refreshed.
        var refreshToken = body.RefreshToken is null ? null : new Secret(RequestBodies.RequireText(body.RefreshToken, "refreshToken"));
        var accessToken = Secret.FromNullable(body.AccessToken);
        if (refreshToken is null && (accessToken is null || body.ExpiresAt is null))
            throw new BadRequestBodyException("'refreshToken' is missing: without one, 'accessToken' and 'expiresAt' (a long-lived token) are required.");
        if (accessToken is not null && body.ExpiresAt is null)
            throw new BadRequestBodyException("'expiresAt' is required with 'accessToken'.");
        if (accessToken is null && body.ExpiresAt is not null)
            throw new BadRequestBodyException("'expiresAt' is only meaningful with 'accessToken'.");
        if (body.ExpiresAt is { } expiresAt && expiresAt <= time.GetUtcNow())
            throw new BadRequestBodyException(refreshToken is null
                ? "'expiresAt' is in the past: a long-lived token without a refresh token cannot be renewed; register a new one."
                : "'expiresAt' is in the past; register without the expired access token.");

        var status = await limits.AddingAccountAsync(accounts, id, () => accounts.RegisterAsync(
            new AccountCredentials(id, provider, refreshToken, accessToken, body.ExpiresAt), ct), ct).ConfigureAwait(false);
        return TypedResults.Created($"/v1/accounts/{Uri.EscapeDataString(id)}", status);
    }

    /// <summary>
    /// Registers the account from a Claude credentials file, or gives an existing account the file's
    /// credentials. An already expired access token is dropped (the engine refreshes with the refresh
    /// token) rather than refused: an expired access token is the normal state of an idle login.
    /// With <c>sync=true</c>, <c>path</c> names the file on the server's machine to keep up to date: it must pass
    /// <see cref="SyncFileRules.Check"/>, hold the login being imported, and belong to no other account.
    /// </summary>
    private static async Task<IResult> ImportClaudeAsync(
        [FromQuery(Name = "id"), Description("The account id.")] string? idParameter,
        [FromQuery(Name = "sync"), Description("true: keep the file named by 'path' up to date.")] string? syncParameter,
        [FromQuery(Name = "path"), Description("With sync=true: the credentials file on the server's machine.")] string? pathParameter,
        HttpRequest request, IAccountAdmin accounts, TimeProvider time,
        IOptions<SyncOptions> syncOptions, SyncBindings bindings, Limits limits, CancellationToken ct)
    {
        // Read from the query as a whole so a repeated parameter is seen as the client sent it.
        _ = (idParameter, syncParameter, pathParameter);
        var id = AccountIds.Require(request.Query["id"].ToString());
        var sync = ParseBool(request.Query["sync"].ToString(), "sync");
        var path = sync ? SyncFileRules.Check(request.Query["path"].ToString(), syncOptions.Value.AllowedFolders) : null;

        string body;
        using (var reader = new StreamReader(request.Body))
            body = await reader.ReadToEndAsync(ct).ConfigureAwait(false);
        ClaudeCredentials file;
        try
        {
            file = Core.Credentials.ClaudeCredentialsFile.Parse(body, "the request body");
        }
        catch (CredentialsFileException exception)
        {
            throw new BadRequestBodyException(exception.Message);
        }

        // A file without a refresh token (claude setup-token's long-lived token) makes a long-lived account.
        var refreshToken = file.RefreshToken;
        if (refreshToken is null && path is not null)
            throw new BadRequestBodyException("The body has no 'claudeAiOauth.refreshToken': a long-lived token is not kept in sync with a file; import it without sync.");
        if (refreshToken is null && file.ExpiresAt <= time.GetUtcNow())
            throw new BadRequestBodyException("'claudeAiOauth.expiresAt' is in the past and the body has no refresh token to renew the access token.");
        if (refreshToken is not null && path is not null)
        {
            ClaudeCredentials onDisk;
            try
            {
                onDisk = Core.Credentials.ClaudeCredentialsFile.Read(path);
            }
            catch (CredentialsFileException exception)
            {
                throw new BadRequestBodyException(exception.Message);
            }
            // Otherwise an import of one's own expired login would adopt whatever login the file holds.
            if (!refreshToken.Equals(onDisk.RefreshToken))
                throw new BadRequestBodyException($"The refresh token in the body is not the one in '{path}': import the file's own content.");
        }

        Secret? accessToken = null;
        DateTimeOffset? expiresAt = null;
        if (file.ExpiresAt > time.GetUtcNow())
            (accessToken, expiresAt) = (file.AccessToken, file.ExpiresAt);

        var credentials = new AccountCredentials(id, ClaudeProvider, refreshToken, accessToken, expiresAt, path) { GrantExpiresAt = file.RefreshTokenExpiresAt };
        return await bindings.WithBindingAsync<IResult>(id, path, async () =>
        {
            try
            {
                await accounts.GetStatusAsync(id, ct).ConfigureAwait(false);
            }
            catch (AccountNotFoundException)
            {
                var created = await limits.AddingAccountAsync(accounts, id, () => accounts.RegisterAsync(credentials, ct), ct).ConfigureAwait(false);
                return TypedResults.Created($"/v1/accounts/{Uri.EscapeDataString(id)}", created);
            }
            return TypedResults.Ok(await accounts.ReplaceCredentialsAsync(credentials, ct).ConfigureAwait(false));
        }, ct).ConfigureAwait(false);
    }

    private static bool ParseBool(string value, string name) =>
        string.IsNullOrEmpty(value) ? false
        : bool.TryParse(value, out var parsed) ? parsed
        : throw new BadRequestBodyException($"'{name}' must be true or false.");
}
