namespace ActorRefresh.Host.Api;

/// <summary>Settings of the HTTP API, bound from <c>ActorRefresh:Api</c>.</summary>
internal sealed class ApiOptions
{
    public const string Section = "ActorRefresh:Api";
    public const string KeySetting = "ActorRefresh:Api:Key";
    public const string KeyFileSetting = "ActorRefresh:Api:KeyFile";
    public const string AllowInsecureHttpSetting = "ActorRefresh:Api:AllowInsecureHttp";

    /// <summary>The bearer key every <c>/v1</c> call and the status page need; empty means keyless (loopback only).</summary>
    public string? Key { get; set; }

    /// <summary>A file holding the key (owner-only, not a link): keeps it out of the command line and the environment.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Section of the named keys: <c>ActorRefresh:Api:Keys:&lt;name&gt;:Key</c> or <c>:KeyFile</c>, and <c>:Scopes</c>.</summary>
    public const string KeysSection = "ActorRefresh:Api:Keys";

    /// <summary>
    /// Named keys, each with its own scopes (<see cref="ApiScopes"/>), so a worker's key reads tokens and cannot
    /// administer. <see cref="Key"/> stays a key with every scope.
    /// </summary>
    public Dictionary<string, NamedApiKey> Keys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Allows plain HTTP on a non-loopback address (the key and tokens then cross the network in clear).</summary>
    public bool AllowInsecureHttp { get; set; }

    /// <summary>Failed keys one peer address may present per <see cref="FailedKeyWindow"/> before it is answered 429.</summary>
    public int FailedKeyLimit { get; set; } = 10;

    /// <summary>The window of <see cref="FailedKeyLimit"/>.</summary>
    public TimeSpan FailedKeyWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long <c>/readyz</c> waits for the engine to answer.</summary>
    public TimeSpan ReadinessTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Setting of <see cref="MaxAccounts"/>.</summary>
    public const string MaxAccountsSetting = "ActorRefresh:Api:MaxAccounts";

    /// <summary>Setting of <see cref="MaxPools"/>.</summary>
    public const string MaxPoolsSetting = "ActorRefresh:Api:MaxPools";

    /// <summary>Most accounts the API registers (each is an actor, a journal and upstream refreshes); more is a 409.</summary>
    public int MaxAccounts { get; set; } = 10_000;

    /// <summary>Most pools the API defines; more is a 409.</summary>
    public int MaxPools { get; set; } = 1_000;

    /// <summary>Setting of <see cref="StatusPageReloadSeconds"/>.</summary>
    public const string StatusPageReloadSetting = "ActorRefresh:Api:StatusPageReloadSeconds";

    public const int DefaultStatusPageReloadSeconds = 5;

    /// <summary>How often the status page reloads itself (not while a dialog is open or an action runs); 0 for never.</summary>
    public int StatusPageReloadSeconds { get; set; } = DefaultStatusPageReloadSeconds;

    /// <summary>The problems with the limits, each naming its setting.</summary>
    public IReadOnlyList<string> ValidateLimits() =>
        new[] { (MaxAccounts, MaxAccountsSetting), (MaxPools, MaxPoolsSetting) }
            .Where(l => l.Item1 < 1).Select(l => $"{l.Item2} must be at least 1 (it is {l.Item1}).")
            .Concat(StatusPageReloadSeconds is < 0 or > 3600
                ? [$"{StatusPageReloadSetting} must be from 0 (never) to 3600 (it is {StatusPageReloadSeconds})."] : Array.Empty<string>())
            .ToList();

    /// <summary>Largest request body accepted (64 KiB: credentials are small; anything bigger is a mistake or abuse).</summary>
    public const long MaxRequestBodyBytes = 64 * 1024;

    public bool HasKey => !string.IsNullOrWhiteSpace(Key) || Keys.Values.Any(k => !string.IsNullOrWhiteSpace(k.Key));
}

/// <summary>One named key of <see cref="ApiOptions.Keys"/>.</summary>
internal sealed class NamedApiKey
{
    /// <summary>The key itself (or, after start-up, the content of <see cref="KeyFile"/>).</summary>
    public string? Key { get; set; }

    /// <summary>A file holding the key, with the same checks as <see cref="ApiOptions.KeyFile"/>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Comma-separated scopes: <c>tokens</c>, <c>admin</c>, <c>read</c>.</summary>
    public string? Scopes { get; set; }
}
