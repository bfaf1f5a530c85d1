namespace ActorRefresh.Host.Api;

/// <summary>Settings of the HTTP API, bound from <c>ActorRefresh:Api</c>.</summary>
internal sealed class ApiOptions
{
    public const string Section = "ActorRefresh:Api";
    public const string KeySetting = "ActorRefresh:Api:Key";

    /// <summary>The bearer key every <c>/v1</c> call and the status page need; empty means keyless (loopback only).</summary>
    public string? Key { get; set; }

    /// <summary>How long <c>/readyz</c> waits for the engine to list accounts.</summary>
    public TimeSpan ReadinessTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Largest request body accepted (64 KiB: credentials are small; anything bigger is a mistake or abuse).</summary>
    public const long MaxRequestBodyBytes = 64 * 1024;

    public bool HasKey => !string.IsNullOrWhiteSpace(Key);
}
