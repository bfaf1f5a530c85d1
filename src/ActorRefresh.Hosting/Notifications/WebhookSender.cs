using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Hosting.Notifications;

/// <summary>
/// Posts notices to the configured webhooks: one loop per webhook, so a slow or dead receiver delays only its own
/// notices. A notice is retried with exponential backoff (1 s doubling, at most 1 min apart) for the webhook's
/// <see cref="WebhookOptions.RetryFor"/>, then dropped with a warning. The body is signed with HMAC-SHA256 under the
/// webhook's secret; it carries what the status shows, never a token.
/// </summary>
internal sealed partial class WebhookSender(IAccountNotices notices, IOptions<NotificationOptions> options, IHttpClientFactory clients,
    TimeProvider time, ILogger<WebhookSender> logger) : BackgroundService
{
    public const string ClientName = "actorrefresh-webhooks";
    public const string SignatureHeader = "X-ActorRefresh-Signature";
    public const string EventHeader = "X-ActorRefresh-Event";
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(1);

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(options.Value.Webhooks.Select(hook => RunAsync(hook.Key, hook.Value, stoppingToken)));

    private async Task RunAsync(string name, WebhookOptions hook, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var notice in notices.SubscribeAsync(stoppingToken).ConfigureAwait(false))
                if (hook.Events.Count == 0 || hook.Events.Contains(notice.Kind, StringComparer.Ordinal))
                    await DeliverAsync(name, hook, notice, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(string name, WebhookOptions hook, AccountNotice notice, CancellationToken stoppingToken)
    {
        var body = Body(hook, notice);
        var signature = Sign(hook.Secret!, body);
        var giveUpAt = time.GetUtcNow() + hook.RetryFor;
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            string failure;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                request.Headers.Add(SignatureHeader, signature);
                request.Headers.Add(EventHeader, notice.Kind);
                using var response = await clients.CreateClient(ClientName).SendAsync(request, stoppingToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
                failure = $"HTTP {(int)response.StatusCode}";
                // Other 4xx mean the receiver will not take this body: retrying does not help.
                if ((int)response.StatusCode is >= 400 and < 500 and not 408 and not 429) break;
            }
            catch (HttpRequestException exception)
            {
                failure = exception.HttpRequestError.ToString();
            }
            catch (TaskCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                failure = "timeout";
            }
            if (time.GetUtcNow() + delay > giveUpAt)
            {
                LogDropped(name, notice.Kind, notice.AccountId, attempt, failure);
                return;
            }
            LogRetry(name, notice.Kind, notice.AccountId, failure, delay);
            await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
            delay = delay * 2 > MaxDelay ? MaxDelay : delay * 2;
        }
        LogDropped(name, notice.Kind, notice.AccountId, 1, "refused by the receiver");
    }

    internal static byte[] Body(WebhookOptions hook, AccountNotice notice) =>
        string.Equals(hook.Format, "slack", StringComparison.OrdinalIgnoreCase)
            ? JsonSerializer.SerializeToUtf8Bytes(new { text = SlackText(notice) }, Json)
            : JsonSerializer.SerializeToUtf8Bytes(notice, Json);

    /// <summary><c>sha256=</c> and the lowercase hex HMAC-SHA256 of <paramref name="body"/> under <paramref name="secret"/>.</summary>
    internal static string Sign(string secret, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    private static string SlackText(AccountNotice notice)
    {
        var what = notice.Kind switch
        {
            AccountNoticeKinds.Blocked => "is blocked",
            AccountNoticeKinds.RefreshInterrupted => "had a refresh interrupted",
            AccountNoticeKinds.BackingOff => $"backs off until {notice.Until:u}",
            AccountNoticeKinds.QuotaThreshold => "reached its quota threshold",
            AccountNoticeKinds.Healthy => "is healthy again",
            _ => notice.Kind,
        };
        return $"ActorRefresh: account {notice.AccountId} ({notice.Provider}) {what}" + (notice.Reason is { } reason ? $": {reason}" : "");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {Webhook}: {Kind} of account {AccountId} not delivered ({Failure}); trying again in {Delay}")]
    private partial void LogRetry(string webhook, string kind, string accountId, string failure, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {Webhook}: {Kind} of account {AccountId} dropped after {Attempts} attempt(s) ({Failure})")]
    private partial void LogDropped(string webhook, string kind, string accountId, int attempts, string failure);
}
