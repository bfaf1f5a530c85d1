using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Pools;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace ActorRefresh.Host.Api;

/// <summary>
/// Account pools and passive quota under <c>/v1</c> (behind the API key like every <c>/v1</c> route). Leases are
/// counted by the engine (<c>actorrefresh_leases{result}</c>), so these handlers add no counter of their own.
/// </summary>
internal static class PoolEndpoints
{
    /// <summary>Most headers a usage report may carry (an API response has a few dozen at most).</summary>
    public const int MaxReportedHeaders = 200;

    public static IEndpointRouteBuilder MapPoolApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1").WithTags("Pools");
        v1.MapGet("/pools", List).RequireScope(ApiScopes.Read)
            .WithSummary("List the pool definitions")
            .Produces<List<PoolDefinitionResponse>>();
        v1.MapGet("/pools/{name}", GetAsync).RequireScope(ApiScopes.Read)
            .WithSummary("A pool's members and which of them are usable now")
            .Produces<PoolStatusResponse>().Problems(400, 404, 503);
        v1.MapPut("/pools/{name}", DefineAsync).RequireScope(ApiScopes.Admin)
            .WithSummary("Define or replace a pool")
            .Accepts<DefinePoolRequest>("application/json")
            .Produces<PoolDefinitionResponse>().Produces<PoolDefinitionResponse>(StatusCodes.Status201Created).Problems(400, 409, 413, 415);
        v1.MapDelete("/pools/{name}", Remove).RequireScope(ApiScopes.Admin)
            .WithSummary("Remove a pool (its accounts stay)")
            .Produces(StatusCodes.Status204NoContent).Problems(400, 404);
        v1.MapGet("/pools/{name}/lease", LeaseAsync).RequireScope(ApiScopes.Tokens)
            .WithSummary("An access token from the pool's next usable account, by the pool's strategy")
            .Produces<LeaseResponse>().Problems(400, 404, 503);
        v1.MapPost("/accounts/{id}/usage", ReportUsageAsync).RequireScope(ApiScopes.Tokens).WithTags("Accounts")
            .WithSummary("Report the status and rate-limit headers of a provider answer made with this account's token")
            .Accepts<UsageReportRequest>("application/json")
            .Produces<AccountStatus>().Problems(400, 404, 409, 413, 415, 503);
        return endpoints;
    }

    private static IResult List(IAccountPools pools) =>
        TypedResults.Ok(pools.ListPools().Select(PoolDefinitionResponse.From).ToList());

    private static async Task<IResult> GetAsync(string name, IAccountPools pools, CancellationToken ct) =>
        TypedResults.Ok(PoolStatusResponse.From(await pools.GetPoolAsync(PoolNames.Require(name), ct).ConfigureAwait(false)));

    private static async Task<IResult> LeaseAsync(string name, IAccountPools pools, CancellationToken ct)
    {
        var lease = await pools.LeaseAsync(PoolNames.Require(name), ct).ConfigureAwait(false);
        return TypedResults.Ok(new LeaseResponse(lease.AccountId, lease.Token.Value.Reveal(), lease.ExpiresAt));
    }

    private static IResult Remove(string name, IAccountPools pools) =>
        pools.RemovePool(PoolNames.Require(name)) ? TypedResults.NoContent() : throw new PoolNotFoundException(name);

    private static async Task<IResult> DefineAsync(string name, HttpRequest request, IAccountPools pools, Limits limits, CancellationToken ct)
    {
        PoolNames.Require(name);
        var body = await RequestBodies.ReadAsync<DefinePoolRequest>(request, ct).ConfigureAwait(false);
        var definition = body.ToDefinition(name);
        var existed = pools.ListPools().Any(p => string.Equals(p.Name, name, StringComparison.Ordinal));
        PoolDefinition stored;
        try
        {
            stored = limits.DefiningPool(pools, name, () => pools.DefinePool(definition));
        }
        catch (ArgumentException exception)
        {
            // The engine's own rules (kept in step with the checks above); its message names what is wrong.
            throw new BadRequestBodyException(exception.Message.Split(" (Parameter", 2)[0]);
        }
        var response = PoolDefinitionResponse.From(stored);
        return existed ? TypedResults.Ok(response) : TypedResults.Created($"/v1/pools/{Uri.EscapeDataString(name)}", response);
    }

    private static async Task<IResult> ReportUsageAsync(string id, HttpRequest request, IAccountPools pools, CancellationToken ct)
    {
        AccountIds.Require(id);
        var body = await RequestBodies.ReadAsync<UsageReportRequest>(request, ct).ConfigureAwait(false);
        if (body.Status is not { } status)
            throw new BadRequestBodyException("'status' is required: the HTTP status code the API answered (e.g. 200 or 429).");
        if (status is < 100 or > 599)
            throw new BadRequestBodyException("'status' must be an HTTP status code (100-599).");
        var headers = body.Headers ?? [];
        if (headers.Count > MaxReportedHeaders)
            throw new BadRequestBodyException($"'headers' may hold at most {MaxReportedHeaders} entries.");
        foreach (var (key, value) in headers)
        {
            if (string.IsNullOrWhiteSpace(key))
                throw new BadRequestBodyException("'headers' has an empty header name.");
            if (value is null)
                throw new BadRequestBodyException("'headers' values must be strings.");
        }
        var pairs = headers.Select(h => new KeyValuePair<string, string>(h.Key, h.Value!)).ToList();
        return TypedResults.Ok(await pools.ReportUsageAsync(id, status, pairs, ct).ConfigureAwait(false));
    }
}

/// <summary>Pool names follow the account id rule.</summary>
internal static class PoolNames
{
    public const string Rule = "A pool name is 1-128 characters of letters, digits, '.', '_', '-' and '@'.";

    public static bool IsValid(string? name) => AccountIdRules.IsValid(name);

    /// <exception cref="BadRequestBodyException">The name breaks the rule.</exception>
    public static string Require(string? name) => IsValid(name) ? name! : throw new BadRequestBodyException(Rule);
}

/// <summary>Body of <c>GET /v1/pools/{name}/lease</c>: the chosen account and its access token.</summary>
internal sealed record LeaseResponse(string AccountId, string AccessToken, DateTimeOffset ExpiresAt);

/// <summary>A pool definition as the API shows it (strategy spelled as configuration spells it).</summary>
internal sealed record PoolDefinitionResponse(string Name, IReadOnlyList<string> Accounts, string Strategy, double MaxUtilisation)
{
    public static PoolDefinitionResponse From(PoolDefinition d) =>
        new(d.Name, d.Accounts, PoolStrategies.Name(d.Strategy), d.MaxUtilisation);
}

/// <summary>One member of a pool as the API shows it (never a token).</summary>
internal sealed record PoolMemberResponse(
    string AccountId, AccountState? State, double Utilisation, bool Usable, DateTimeOffset? UsableAt, string? Reason, AccountUsage? Usage);

/// <summary>Body of <c>GET /v1/pools/{name}</c>.</summary>
internal sealed record PoolStatusResponse(
    string Name, string Strategy, double MaxUtilisation, int Usable, int Total, DateTimeOffset? NextUsableAt, IReadOnlyList<PoolMemberResponse> Members)
{
    public static PoolStatusResponse From(PoolStatus s) => new(
        s.Name, PoolStrategies.Name(s.Strategy), s.MaxUtilisation, s.UsableCount, s.Members.Count, s.NextUsableAt,
        s.Members.Select(m => new PoolMemberResponse(m.AccountId, m.State, m.Utilisation, m.Usable, m.UsableAt, m.Reason, m.Usage)).ToList());
}

/// <summary>Body of <c>PUT /v1/pools/{name}</c>.</summary>
internal sealed class DefinePoolRequest
{
    public List<string?>? Accounts { get; set; }
    public string? Strategy { get; set; }
    public double? MaxUtilisation { get; set; }

    /// <exception cref="BadRequestBodyException">A field is invalid; the message names it.</exception>
    public PoolDefinition ToDefinition(string name)
    {
        if (Accounts is null || Accounts.Count == 0)
            throw new BadRequestBodyException("'accounts' must list at least one account id.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Accounts.Count; i++)
        {
            var id = Accounts[i]?.Trim();
            if (!AccountIds.IsValid(id))
                throw new BadRequestBodyException($"'accounts[{i}]' is not a valid account id. {AccountIds.Rule}");
            if (!seen.Add(id!))
                throw new BadRequestBodyException($"'accounts[{i}]' lists '{id}' more than once.");
        }
        if (!PoolStrategies.TryParse(Strategy, out var strategy))
            throw new BadRequestBodyException("'strategy' must be one of priority, round-robin, least-utilised.");
        var max = MaxUtilisation ?? PoolDefinition.DefaultMaxUtilisation;
        if (double.IsNaN(max) || max <= 0 || max > 100)
            throw new BadRequestBodyException("'maxUtilisation' must be above 0 and at most 100.");
        return new PoolDefinition(name, Accounts.Select(a => a!.Trim()).ToList(), strategy, max);
    }
}

/// <summary>Body of <c>POST /v1/accounts/{id}/usage</c>: what an API response said about the account's quota.</summary>
internal sealed class UsageReportRequest
{
    public int? Status { get; set; }
    public Dictionary<string, string?>? Headers { get; set; }
}
