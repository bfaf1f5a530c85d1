using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.TestKit;

public sealed partial class FakeTokenServer
{
    private async Task HandleTokenAsync(HttpContext context)
    {
        Interlocked.Increment(ref _totalRefreshCalls);
        RecordPeak(Interlocked.Increment(ref _inFlight));
        AccountState? account = null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        var ct = linked.Token;
        try
        {
            // The CDN answers before the origin sees the body.
            if (_options.RequireUserAgent && string.IsNullOrWhiteSpace(context.Request.Headers.UserAgent))
            {
                await Responses.WriteCdnAsync(context, ct).ConfigureAwait(false);
                return;
            }

            var (request, error) = await ReadTokenRequestAsync(context, ct).ConfigureAwait(false);
            if (request is null)
            {
                await DelayAsync(_options.Latency, ct).ConfigureAwait(false);
                await Responses.WriteJsonAsync(context, StatusCodes.Status400BadRequest, error!, ct).ConfigureAwait(false);
                return;
            }

            FakeFault? fault = null;
            var reuseCounted = false;
            if (_refreshOwners.TryGetValue(request.RefreshToken, out var owner))
            {
                account = owner;
                lock (account.Gate)
                {
                    account.RefreshCalls++;
                    if (account.InFlight > 0)
                    {
                        Interlocked.Increment(ref _overlapping);
                        account.Overlapping++;
                    }

                    account.InFlight++;
                    if (account.BackoffUntil is { } until && _options.Time.GetUtcNow() < until)
                    {
                        Interlocked.Increment(ref _callsDuringBackoff);
                        account.CallsDuringBackoff++;
                    }

                    if (!string.Equals(request.RefreshToken, account.RefreshToken, StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref _reuse);
                        account.Reuse++;
                        reuseCounted = true;
                    }

                    account.Faults.TryDequeue(out fault);
                }
            }

            fault ??= NextFault(account);
            if (fault is RotateOnReceiptFault late)
            {
                await RotateOnReceiptAsync(context, request, account, reuseCounted, late, ct).ConfigureAwait(false);
                return;
            }

            await DelayAsync(_options.Latency, ct).ConfigureAwait(false);
            await AnswerAsync(context, request, account, fault, reuseCounted, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client gave up or the server is stopping: drop the connection rather than answer late.
            context.Abort();
        }
        finally
        {
            if (account is not null)
            {
                lock (account.Gate)
                {
                    account.InFlight--;
                }
            }

            Interlocked.Decrement(ref _inFlight);
        }
    }

    private FakeFault? NextFault(AccountState? account)
    {
        lock (_global.Gate)
        {
            if (_global.Faults.TryDequeue(out var scripted))
            {
                return scripted;
            }
        }

        if (account is not null)
        {
            lock (account.Gate)
            {
                if (account.PersistentFault is { } persistent)
                {
                    return persistent;
                }
            }
        }

        lock (_global.Gate)
        {
            return _global.PersistentFault;
        }
    }

    private async Task AnswerAsync(HttpContext context, TokenRequest request, AccountState? account, FakeFault? fault, bool reuseCounted, CancellationToken ct)
    {
        switch (fault)
        {
            case null:
                await AnswerNormallyAsync(context, request, account, reuseCounted, rotateRefresh: _options.RotateRefreshTokens, omitRefresh: false, ct).ConfigureAwait(false);
                return;
            case DelayFault delay:
                await DelayAsync(delay.Duration, ct).ConfigureAwait(false);
                await AnswerNormallyAsync(context, request, account, reuseCounted, rotateRefresh: _options.RotateRefreshTokens, omitRefresh: false, ct).ConfigureAwait(false);
                return;
            case AfterFault after:
                await DelayAsync(after.Wait, ct).ConfigureAwait(false);
                await AnswerAsync(context, request, account, after.Answer, reuseCounted, ct).ConfigureAwait(false);
                return;
            case NoRotationFault:
                await AnswerNormallyAsync(context, request, account, reuseCounted, rotateRefresh: false, omitRefresh: true, ct).ConfigureAwait(false);
                return;
            case HangFault:
                await Task.Delay(Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
                return;
            case ConnectionResetFault:
                context.Abort();
                return;
            case RotateThenResetFault:
                if (Process(request, account, reuseCounted, rotateRefresh: _options.RotateRefreshTokens, omitRefresh: false).ContainsKey("access_token"))
                {
                    CountLostAnswer(account);
                }

                context.Abort();
                return;
            case RateLimitedFault limited:
                AnswerRateLimited(context, account, limited);
                await Responses.WriteJsonAsync(context, StatusCodes.Status429TooManyRequests, Responses.RateLimitError(), ct).ConfigureAwait(false);
                return;
            case ServerErrorFault server:
                await Responses.WriteJsonAsync(context, server.Status, Responses.ApiError(Responses.ServerErrorType(server.Status), "Internal server error"), ct).ConfigureAwait(false);
                return;
            case CdnForbiddenFault:
                await Responses.WriteCdnAsync(context, ct).ConfigureAwait(false);
                return;
            case PolicyForbiddenFault policy:
                await Responses.WriteJsonAsync(context, StatusCodes.Status403Forbidden, Responses.ApiError("permission_error", policy.Message), ct).ConfigureAwait(false);
                return;
            case InvalidGrantFault grant:
                await Responses.WriteJsonAsync(context, StatusCodes.Status400BadRequest, Responses.OAuthError("invalid_grant", grant.Description), ct).ConfigureAwait(false);
                return;
            case MalformedJsonFault:
                await Responses.WriteRawAsync(context, StatusCodes.Status200OK, "application/json", Responses.MalformedJsonBody, ct).ConfigureAwait(false);
                return;
            case BadRequestFault bad:
                await Responses.WriteJsonAsync(context, StatusCodes.Status400BadRequest, Responses.OAuthError(bad.Error, bad.Description), ct).ConfigureAwait(false);
                return;
            default:
                throw new InvalidOperationException($"Unknown fault {fault.GetType().Name}.");
        }
    }

    /// <summary>
    /// A real provider's order: the refresh is processed (the refresh token consumed) as soon as the request arrives,
    /// then the answer takes <see cref="FakeTokenServerOptions.Latency"/> plus the fault's delay. A client that goes
    /// away meanwhile leaves the rotation in place and its answer lost.
    /// </summary>
    private async Task RotateOnReceiptAsync(HttpContext context, TokenRequest request, AccountState? account, bool reuseCounted, RotateOnReceiptFault fault, CancellationToken ct)
    {
        var body = Process(request, account, reuseCounted, rotateRefresh: _options.RotateRefreshTokens, omitRefresh: false);
        var rotated = body.ContainsKey("access_token");
        try
        {
            await DelayAsync(_options.Latency + fault.AnswerAfter, ct).ConfigureAwait(false);
            await Responses.WriteJsonAsync(context, rotated ? StatusCodes.Status200OK : StatusCodes.Status400BadRequest, body, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (rotated && (e is OperationCanceledException || context.RequestAborted.IsCancellationRequested))
        {
            CountLostAnswer(account);
            throw;
        }
    }

    private static void CountLostAnswer(AccountState? account)
    {
        if (account is null)
        {
            return;
        }

        lock (account.Gate)
        {
            account.AnswersLost++;
        }
    }

    private void AnswerRateLimited(HttpContext context, AccountState? account, RateLimitedFault limited)
    {
        var now = _options.Time.GetUtcNow();
        DateTimeOffset? deadline;
        if (limited.Until is { } until)
        {
            // An HTTP-date carries whole seconds; the deadline is what the client can read.
            var sent = new DateTimeOffset(until.UtcTicks - (until.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            context.Response.Headers.RetryAfter = sent.ToString("R", CultureInfo.InvariantCulture);
            deadline = sent;
        }
        else if (limited.RetryAfterMs is { } ms)
        {
            context.Response.Headers["Retry-After-Ms"] = ms.ToString(CultureInfo.InvariantCulture);
            deadline = now.AddMilliseconds(ms);
        }
        else
        {
            deadline = Responses.SetRetryAfterSeconds(context, limited.RetryAfter, now);
        }

        if (account is not null && deadline is not null)
        {
            lock (account.Gate)
            {
                account.BackoffUntil = deadline;
            }
        }
    }

    private async Task AnswerNormallyAsync(HttpContext context, TokenRequest request, AccountState? account, bool reuseCounted, bool rotateRefresh, bool omitRefresh, CancellationToken ct)
    {
        var body = Process(request, account, reuseCounted, rotateRefresh, omitRefresh);
        var status = body.ContainsKey("access_token") ? StatusCodes.Status200OK : StatusCodes.Status400BadRequest;
        await Responses.WriteJsonAsync(context, status, body, ct).ConfigureAwait(false);
    }

    /// <summary>The server's real work: checks the refresh token and issues new tokens. Returns the body to send.</summary>
    private JsonObject Process(TokenRequest request, AccountState? account, bool reuseCounted, bool rotateRefresh, bool omitRefresh)
    {
        if (account is null)
        {
            return Responses.OAuthError("invalid_grant", "Refresh token not found or invalid");
        }

        FakeAccountTokens pair;
        lock (account.Gate)
        {
            if (!string.Equals(request.RefreshToken, account.RefreshToken, StringComparison.Ordinal))
            {
                // Consumed while this request waited (Delay, Latency): still reuse, counted once per request.
                if (!reuseCounted)
                {
                    Interlocked.Increment(ref _reuse);
                    account.Reuse++;
                }

                return Responses.OAuthError("invalid_grant", "Refresh token not found or invalid");
            }

            pair = IssuePair(account, rotateRefresh);
            if (rotateRefresh)
            {
                account.Rotations++;
            }
        }

        var body = new JsonObject
        {
            ["access_token"] = pair.AccessToken,
        };
        if (!omitRefresh)
        {
            body["refresh_token"] = pair.RefreshToken;
        }

        body["expires_in"] = (long)_options.AccessTokenLifetime.TotalSeconds;
        if (_options.RefreshTokenLifetime is { } grant) body["refresh_token_expires_in"] = (long)grant.TotalSeconds;
        body["token_type"] = "Bearer";
        body["scope"] = string.IsNullOrWhiteSpace(request.Scope) ? DefaultScope : request.Scope;
        body["account"] = new JsonObject
        {
            ["uuid"] = account.AccountUuid.ToString(),
            ["email_address"] = account.Id + "@example.com",
        };
        body["organization"] = new JsonObject
        {
            ["uuid"] = account.OrganizationUuid.ToString(),
            ["name"] = account.Id + "'s Organization",
        };
        return body;
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        // Counted only once the timer exists, so a test that sees the count can advance a fake clock without a race.
        var wait = Task.Delay(delay, _options.Time, ct);
        Interlocked.Increment(ref _delayed);
        try
        {
            await wait.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _delayed);
        }
    }

    private void RecordPeak(int current)
    {
        var peak = Volatile.Read(ref _maxConcurrent);
        while (current > peak)
        {
            var seen = Interlocked.CompareExchange(ref _maxConcurrent, current, peak);
            if (seen == peak)
            {
                return;
            }

            peak = seen;
        }
    }

    /// <summary>Reads a JSON (Claude) or form (RFC 6749) body; returns the request or the 400 body explaining why not.</summary>
    private async Task<(TokenRequest? Request, JsonObject? Error)> ReadTokenRequestAsync(HttpContext context, CancellationToken ct)
    {
        string? grantType, refreshToken, clientId, scope;
        if (context.Request.HasFormContentType)
        {
            IFormCollection form;
            try
            {
                form = await context.Request.ReadFormAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
            {
                return (null, Responses.OAuthError("invalid_request", "Malformed form body"));
            }

            grantType = Single(form, "grant_type");
            refreshToken = Single(form, "refresh_token");
            clientId = Single(form, "client_id");
            scope = Single(form, "scope");
        }
        else
        {
            JsonDocument document;
            try
            {
                document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is JsonException or IOException or BadHttpRequestException)
            {
                return (null, Responses.OAuthError("invalid_request", "Invalid request format"));
            }

            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    return (null, Responses.OAuthError("invalid_request", "Invalid request format"));
                }

                if (!TryString(document.RootElement, "grant_type", out grantType)
                    || !TryString(document.RootElement, "refresh_token", out refreshToken)
                    || !TryString(document.RootElement, "client_id", out clientId)
                    || !TryString(document.RootElement, "scope", out scope))
                {
                    return (null, Responses.OAuthError("invalid_request", "Invalid request format"));
                }
            }
        }

        if (string.IsNullOrEmpty(grantType))
        {
            return (null, Responses.OAuthError("invalid_request", "Missing grant_type"));
        }

        if (grantType != "refresh_token")
        {
            return (null, Responses.OAuthError("unsupported_grant_type", "Grant type not supported"));
        }

        if (_options.RequiredClientId is { } required && !string.Equals(clientId, required, StringComparison.Ordinal))
        {
            return (null, Responses.OAuthError("invalid_client", "Client authentication failed"));
        }

        if (string.IsNullOrEmpty(refreshToken))
        {
            return (null, Responses.OAuthError("invalid_request", "Missing refresh_token"));
        }

        return (new TokenRequest(refreshToken, clientId, scope), null);
    }

    private static string? Single(IFormCollection form, string key) =>
        form.TryGetValue(key, out var values) && values.Count == 1 ? values[0] : null;

    private static bool TryString(JsonElement root, string name, out string? value)
    {
        value = null;
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        value = element.GetString();
        return true;
    }

    private sealed record TokenRequest(string RefreshToken, string? ClientId, string? Scope);
}
