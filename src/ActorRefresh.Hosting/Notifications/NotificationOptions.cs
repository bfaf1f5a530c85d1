namespace ActorRefresh.Hosting.Notifications;

/// <summary>Settings under <c>ActorRefresh:Notifications</c>.</summary>
public sealed class NotificationOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "ActorRefresh:Notifications";

    /// <summary>A backoff at least this long raises <see cref="AccountNoticeKinds.BackingOff"/>.</summary>
    public TimeSpan LongBackoff { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Webhooks by name.</summary>
    public Dictionary<string, WebhookOptions> Webhooks { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>What is wrong, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (LongBackoff <= TimeSpan.Zero) problems.Add($"{Section}:LongBackoff must be positive.");
        foreach (var (name, hook) in Webhooks)
        {
            var key = $"{Section}:Webhooks:{name}";
            if (!Uri.TryCreate(hook.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                problems.Add($"{key}:Url must be an absolute http or https URL (got '{hook.Url}').");
            if (string.IsNullOrEmpty(hook.Secret) || hook.Secret.Length < 16)
                problems.Add($"{key}:Secret is required, at least 16 characters: receivers check the signature made with it.");
            foreach (var kind in hook.Events.Where(e => !AccountNoticeKinds.All.Contains(e, StringComparer.Ordinal)))
                problems.Add($"{key}:Events '{kind}' is not one of {string.Join(", ", AccountNoticeKinds.All)}.");
            if (!string.Equals(hook.Format, "generic", StringComparison.OrdinalIgnoreCase) && !string.Equals(hook.Format, "slack", StringComparison.OrdinalIgnoreCase))
                problems.Add($"{key}:Format '{hook.Format}' is not one of generic, slack.");
            if (hook.RetryFor < TimeSpan.Zero) problems.Add($"{key}:RetryFor must not be negative.");
        }
        return problems;
    }
}

/// <summary>One webhook: where notices are posted, which ones, and the secret their signature is made with.</summary>
public sealed class WebhookOptions
{
    /// <summary>The receiver's URL.</summary>
    public string? Url { get; set; }

    /// <summary>The notice kinds to send (<see cref="AccountNoticeKinds"/>); empty for all.</summary>
    public List<string> Events { get; set; } = [];

    /// <summary>The HMAC-SHA256 key of the <c>X-ActorRefresh-Signature</c> header (<c>sha256=&lt;hex of the body's MAC&gt;</c>).</summary>
    public string? Secret { get; set; }

    /// <summary><c>generic</c> (the notice as JSON) or <c>slack</c> (a <c>text</c> field, for Slack-compatible incoming webhooks).</summary>
    public string Format { get; set; } = "generic";

    /// <summary>How long a notice the receiver does not accept (an error, a 5xx, a 429) is retried, with backoff.</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromMinutes(10);
}
