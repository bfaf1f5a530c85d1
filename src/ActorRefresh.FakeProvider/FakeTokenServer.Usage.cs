using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.TestKit;

public sealed partial class FakeTokenServer
{
    /// <summary>
    /// Sets a fault that answers every usage request of an account's tokens, current or issued later, until cleared with
    /// null; scripted usage faults go first. A grant without <c>user:profile</c> is
    /// <c>SetPersistentUsageFault(id, FakeUsageFault.ScopeForbidden())</c>: refreshes keep the grant, so they keep the fault.
    /// </summary>
    /// <param name="accountId">The account id.</param>
    /// <param name="fault">The fault, or null to clear it.</param>
    public void SetPersistentUsageFault(string accountId, FakeUsageFault? fault)
    {
        var account = GetOrAddAccount(accountId);
        lock (account.Gate)
        {
            account.PersistentUsageFault = fault;
        }
    }

    private async Task HandleUsageAsync(HttpContext context)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        var ct = linked.Token;
        try
        {
            var token = BearerToken(context.Request);
            AccountState? account = null;
            FakeUsageFault? fault = null;
            if (token is not null && _accessOwners.TryGetValue(token, out var owner))
            {
                account = owner;
                lock (account.Gate)
                {
                    account.UsageCalls++;
                    if (!account.UsageFaults.TryDequeue(out fault)) fault = account.PersistentUsageFault;
                }
            }

            if (fault is null)
            {
                lock (_global.Gate)
                {
                    _global.UsageFaults.TryDequeue(out fault);
                }
            }

            if (fault is not null)
            {
                await AnswerUsageFaultAsync(context, fault, ct).ConfigureAwait(false);
                return;
            }

            var now = _options.Time.GetUtcNow();
            JsonObject? body = null;
            if (account is not null)
            {
                lock (account.Gate)
                {
                    if (string.Equals(token, account.AccessToken, StringComparison.Ordinal) && !account.AccessRevoked && now < account.ExpiresAt)
                    {
                        body = UsageBody(
                            account.FiveHourUtilization,
                            account.FiveHourResetsAt ?? now.AddHours(5),
                            account.SevenDayUtilization,
                            account.SevenDayResetsAt ?? now.AddDays(7));
                    }
                }
            }

            if (body is null)
            {
                await Responses.WriteJsonAsync(context, StatusCodes.Status401Unauthorized, Responses.Expired(), ct).ConfigureAwait(false);
                return;
            }

            await Responses.WriteJsonAsync(context, StatusCodes.Status200OK, body, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            context.Abort();
        }
    }

    private async Task AnswerUsageFaultAsync(HttpContext context, FakeUsageFault fault, CancellationToken ct)
    {
        switch (fault)
        {
            case UsageRateLimitedFault limited:
                Responses.SetRetryAfterSeconds(context, limited.RetryAfter, _options.Time.GetUtcNow());
                await Responses.WriteJsonAsync(context, StatusCodes.Status429TooManyRequests, Responses.RateLimitError(), ct).ConfigureAwait(false);
                return;
            case UsageUnauthorizedFault:
                await Responses.WriteJsonAsync(context, StatusCodes.Status401Unauthorized, Responses.Expired(), ct).ConfigureAwait(false);
                return;
            case UsagePolicyForbiddenFault:
                await Responses.WriteJsonAsync(context, StatusCodes.Status403Forbidden, Responses.ApiError("permission_error", "OAuth authentication is currently not allowed for this organization."), ct).ConfigureAwait(false);
                return;
            case UsageCdnForbiddenFault:
                await Responses.WriteCdnAsync(context, ct).ConfigureAwait(false);
                return;
            case UsageForbiddenFault forbidden:
                await Responses.WriteRawAsync(context, StatusCodes.Status403Forbidden, forbidden.ContentType, forbidden.Body, ct).ConfigureAwait(false);
                return;
            case UsageHangFault:
                await Task.Delay(Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
                return;
            case UsageServerErrorFault server:
                await Responses.WriteJsonAsync(context, server.Status, Responses.ApiError(Responses.ServerErrorType(server.Status), "Internal server error"), ct).ConfigureAwait(false);
                return;
            default:
                throw new InvalidOperationException($"Unknown usage fault {fault.GetType().Name}.");
        }
    }

    private static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : null;
    }

    private static JsonObject UsageBody(double fiveHour, DateTimeOffset fiveHourResetsAt, double sevenDay, DateTimeOffset sevenDayResetsAt)
    {
        var fiveReset = Iso(fiveHourResetsAt);
        var sevenReset = Iso(sevenDayResetsAt);
        return new JsonObject
        {
            ["five_hour"] = new JsonObject { ["utilization"] = fiveHour, ["resets_at"] = fiveReset },
            ["seven_day"] = new JsonObject { ["utilization"] = sevenDay, ["resets_at"] = sevenReset },
            ["limits"] = new JsonArray
            {
                new JsonObject { ["kind"] = "five_hour", ["percent"] = fiveHour, ["resets_at"] = fiveReset },
                new JsonObject { ["kind"] = "seven_day", ["percent"] = sevenDay, ["resets_at"] = sevenReset },
            },
            ["extra_usage"] = null,
        };
    }

    private static string Iso(DateTimeOffset value) =>
        value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);
}
