using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ActorRefresh.TestKit;

/// <summary>
/// Logging in, as Claude's endpoints do it: an authorize page that shows <c>code#state</c> to paste back, and an
/// <c>authorization_code</c> grant that checks PKCE (S256), <c>state</c>, <c>redirect_uri</c> and the client strictly; a
/// code is single use and lives 10 minutes.
/// </summary>
public sealed partial class FakeTokenServer
{
    private static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<string, PendingCode> _codes = new(StringComparer.Ordinal);
    private string? _loginAs;
    private int _codeExchanges;

    /// <summary>The authorization endpoint (<c>/oauth/authorize</c>).</summary>
    public Uri AuthorizeEndpoint => new(BaseAddress, "oauth/authorize");

    /// <summary>Authorization code grants answered with a token pair.</summary>
    public int CodeExchanges => Volatile.Read(ref _codeExchanges);

    /// <summary>
    /// Who is logged in at the authorize page: the next authorizations are for <paramref name="accountId"/> (created on
    /// the exchange; an existing account gets a new token family, as a re-login does).
    /// </summary>
    public void LogInAs(string accountId)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        Volatile.Write(ref _loginAs, accountId);
    }

    private Task HandleAuthorizeAsync(HttpContext context)
    {
        var q = context.Request.Query;
        string? Get(string name) => q.TryGetValue(name, out var v) && v.Count == 1 ? v[0] : null;
        var problems = new List<string>();
        if (string.IsNullOrEmpty(Get("client_id"))) problems.Add("client_id is required");
        if (_options.RequiredClientId is { } required && Get("client_id") != required) problems.Add("unknown client_id");
        if (Get("response_type") != "code") problems.Add("response_type must be code");
        if (Get("code_challenge_method") != "S256") problems.Add("code_challenge_method must be S256");
        if (string.IsNullOrEmpty(Get("code_challenge"))) problems.Add("code_challenge is required");
        if (string.IsNullOrEmpty(Get("state"))) problems.Add("state is required");
        if (string.IsNullOrEmpty(Get("redirect_uri"))) problems.Add("redirect_uri is required");
        if (Volatile.Read(ref _loginAs) is not { } user) problems.Add("nobody is logged in (FakeTokenServer.LogInAs)");
        else if (problems.Count == 0)
        {
            var code = Base64Url(RandomNumberGenerator.GetBytes(32));
            _codes[code] = new PendingCode(user, Get("client_id")!, Get("redirect_uri")!, Get("code_challenge")!, Get("state")!, _options.Time.GetUtcNow());
            // As Claude's callback page does: the code and the state to paste back.
            return Responses.WriteRawAsync(context, StatusCodes.Status200OK, "text/html; charset=utf-8",
                $"<!DOCTYPE html>\n<html><body><p>Paste this code into your application:</p><code id=\"code\">{code}#{Get("state")}</code></body></html>\n",
                CancellationToken.None);
        }
        return Responses.WriteRawAsync(context, StatusCodes.Status400BadRequest, "text/plain; charset=utf-8", string.Join("; ", problems) + "\n", CancellationToken.None);
    }

    /// <summary>True (and the body left readable) unless the request is an <c>authorization_code</c> grant, which is answered here.</summary>
    private async Task<bool> AnsweredAsCodeGrantAsync(HttpContext context)
    {
        context.Request.EnableBuffering();
        Dictionary<string, string?> fields;
        var ct = context.RequestAborted;
        // A body that is not what this looks for is left to the refresh handler, which answers it as it always did.
        try
        {
            if (context.Request.HasFormContentType)
            {
                var form = await context.Request.ReadFormAsync(ct).ConfigureAwait(false);
                fields = form.ToDictionary(f => f.Key, f => (string?)f.Value.ToString(), StringComparer.Ordinal);
            }
            else
            {
                using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: ct).ConfigureAwait(false);
                fields = document.RootElement.ValueKind == JsonValueKind.Object
                    ? document.RootElement.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String)
                        .GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Value.GetString(), StringComparer.Ordinal)
                    : [];
            }
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or IOException or BadHttpRequestException)
        {
            fields = [];
        }
        context.Request.Body.Position = 0;
        if (fields.GetValueOrDefault("grant_type") != "authorization_code") return false;

        var json = !context.Request.HasFormContentType;
        var error = CheckCodeGrant(fields, json, out var pending);
        if (error is not null)
        {
            await Responses.WriteJsonAsync(context, StatusCodes.Status400BadRequest, error, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        var account = GetOrAddAccount(pending!.AccountId);
        FakeAccountTokens pair;
        lock (account.Gate) pair = IssuePair(account, rotateRefresh: true);
        Interlocked.Increment(ref _codeExchanges);
        var body = new JsonObject
        {
            ["access_token"] = pair.AccessToken,
            ["refresh_token"] = pair.RefreshToken,
            ["expires_in"] = (long)_options.AccessTokenLifetime.TotalSeconds,
            ["token_type"] = "Bearer",
            ["scope"] = DefaultScope,
            ["account"] = new JsonObject { ["uuid"] = account.AccountUuid.ToString(), ["email_address"] = account.Id + "@example.com" },
        };
        await Responses.WriteJsonAsync(context, StatusCodes.Status200OK, body, CancellationToken.None).ConfigureAwait(false);
        return true;
    }

    private JsonObject? CheckCodeGrant(Dictionary<string, string?> fields, bool json, out PendingCode? pending)
    {
        pending = null;
        // Single use: the code is gone from the first exchange on, whatever its outcome.
        if (fields.GetValueOrDefault("code") is not { Length: > 0 } code || !_codes.TryRemove(code, out var found))
            return Responses.OAuthError("invalid_grant", "Code has expired or been used");
        if (_options.Time.GetUtcNow() - found.IssuedAt > CodeLifetime)
            return Responses.OAuthError("invalid_grant", "Code has expired or been used");
        if (fields.GetValueOrDefault("client_id") != found.ClientId)
            return Responses.OAuthError("invalid_client", "Client authentication failed");
        if (fields.GetValueOrDefault("redirect_uri") != found.RedirectUri)
            return Responses.OAuthError("invalid_grant", "Redirect URI mismatch");
        if (fields.GetValueOrDefault("code_verifier") is not { Length: > 0 } verifier
            || Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))) != found.Challenge)
            return Responses.OAuthError("invalid_grant", "Invalid code verifier");
        // Claude's JSON exchange carries the state and checks it.
        if (json && fields.GetValueOrDefault("state") != found.State)
            return Responses.OAuthError("invalid_grant", "Invalid state");
        pending = found;
        return null;
    }

    private sealed record PendingCode(string AccountId, string ClientId, string RedirectUri, string Challenge, string State, DateTimeOffset IssuedAt);
}
