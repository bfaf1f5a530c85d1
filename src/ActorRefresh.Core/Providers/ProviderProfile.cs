namespace ActorRefresh.Core.Providers;

/// <summary>How a token request body is encoded.</summary>
public enum TokenBodyFormat
{
    /// <summary><c>application/x-www-form-urlencoded</c>, as RFC 6749 specifies.</summary>
    Form,
    /// <summary><c>application/json</c>, as the Claude token endpoint expects.</summary>
    Json,
}

/// <summary>How the client authenticates when it has a client secret.</summary>
public enum ClientAuthMethod
{
    /// <summary>HTTP Basic with client id and secret (RFC 6749 section 2.3.1, preferred).</summary>
    Basic,
    /// <summary>client_id and client_secret in the request body.</summary>
    Post,
}

/// <summary>
/// Everything needed to talk to one OAuth provider. Bound from configuration section
/// <c>ActorRefresh:Providers:&lt;name&gt;</c>; built-in profiles: <c>claude</c> and <c>generic</c>.
/// </summary>
public sealed class ProviderProfile
{
    /// <summary>Name the profile is registered under (the configuration key).</summary>
    public string Name { get; set; } = "";

    /// <summary>Absolute URL of the token endpoint. Required.</summary>
    public Uri? TokenEndpoint { get; set; }

    /// <summary>OAuth client id. Required.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>Client secret for confidential clients; null for public clients.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>How the secret is sent when there is one.</summary>
    public ClientAuthMethod ClientAuth { get; set; } = ClientAuthMethod.Basic;

    /// <summary>Scope sent with the refresh request; null to send none.</summary>
    public string? Scope { get; set; }

    /// <summary>Body encoding of the token request.</summary>
    public TokenBodyFormat BodyFormat { get; set; } = TokenBodyFormat.Form;

    /// <summary>User-Agent header. Some CDNs refuse requests without one.</summary>
    public string UserAgent { get; set; } = "ActorRefresh/1.0";

    /// <summary>Extra request headers sent with every call to this provider.</summary>
    public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Time allowed for one token request before it counts as a transient failure.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Usage/quota endpoint, for providers that have one.</summary>
    public Uri? UsageEndpoint { get; set; }

    /// <summary>Authorization endpoint for logging in (authorization code with PKCE); null when the provider has no login here.</summary>
    public Uri? AuthorizeEndpoint { get; set; }

    /// <summary>
    /// Redirect URI registered for the client: the page that shows the code to paste back (Claude), or a loopback URL
    /// <c>http://127.0.0.1:&lt;port&gt;/&lt;path&gt;</c> whose port the CLI listens on. Null with an
    /// <see cref="AuthorizeEndpoint"/>: a loopback redirect on an ephemeral port (RFC 8252).
    /// </summary>
    public Uri? RedirectUri { get; set; }

    /// <summary>Extra query parameters of the authorize URL (for Claude: <c>code=true</c>, which makes its page show the code).</summary>
    public Dictionary<string, string> AuthorizeParameters { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Device authorization endpoint (RFC 8628); null when the provider offers no device login.</summary>
    public Uri? DeviceAuthorizationEndpoint { get; set; }

    /// <summary>Scopes asked for at login; null to ask for <see cref="Scope"/>.</summary>
    public string? LoginScope { get; set; }

    /// <summary>
    /// The longest a grant of this provider lives from its login (e.g. 30 days), when the provider does not say: an account
    /// registered or given new credentials knows its grant ends that long after, and is warned before. Null: unknown.
    /// </summary>
    public TimeSpan? MaxGrantLifetime { get; set; }

    /// <summary>Extra headers for the usage endpoint (for Claude: <c>anthropic-beta</c>).</summary>
    public Dictionary<string, string> UsageHeaders { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates an independent copy (configuration binding mutates profiles in place).</summary>
    public ProviderProfile Clone() => new()
    {
        Name = Name,
        TokenEndpoint = TokenEndpoint,
        ClientId = ClientId,
        ClientSecret = ClientSecret,
        ClientAuth = ClientAuth,
        Scope = Scope,
        BodyFormat = BodyFormat,
        UserAgent = UserAgent,
        Headers = new Dictionary<string, string>(Headers, StringComparer.OrdinalIgnoreCase),
        RequestTimeout = RequestTimeout,
        UsageEndpoint = UsageEndpoint,
        AuthorizeEndpoint = AuthorizeEndpoint,
        RedirectUri = RedirectUri,
        LoginScope = LoginScope,
        AuthorizeParameters = new Dictionary<string, string>(AuthorizeParameters, StringComparer.Ordinal),
        DeviceAuthorizationEndpoint = DeviceAuthorizationEndpoint,
        MaxGrantLifetime = MaxGrantLifetime,
        UsageHeaders = new Dictionary<string, string>(UsageHeaders, StringComparer.OrdinalIgnoreCase),
    };

    /// <summary>Returns the problems with this profile, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var prefix = $"ActorRefresh:Providers:{Name}";
        var errors = new List<string>();
        if (TokenEndpoint is null)
            errors.Add($"{prefix}:TokenEndpoint is required.");
        else if (!TokenEndpoint.IsAbsoluteUri || (TokenEndpoint.Scheme != Uri.UriSchemeHttps && TokenEndpoint.Scheme != Uri.UriSchemeHttp))
            errors.Add($"{prefix}:TokenEndpoint must be an absolute http(s) URL.");
        if (string.IsNullOrWhiteSpace(ClientId))
            errors.Add($"{prefix}:ClientId is required.");
        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromMinutes(5))
            errors.Add($"{prefix}:RequestTimeout must be between 0 and 5 minutes.");
        if (UsageEndpoint is not null && !UsageEndpoint.IsAbsoluteUri)
            errors.Add($"{prefix}:UsageEndpoint must be an absolute URL.");
        if (AuthorizeEndpoint is not null && !AuthorizeEndpoint.IsAbsoluteUri)
            errors.Add($"{prefix}:AuthorizeEndpoint must be an absolute URL.");
        if (RedirectUri is not null && !RedirectUri.IsAbsoluteUri)
            errors.Add($"{prefix}:RedirectUri must be an absolute URL.");
        if (DeviceAuthorizationEndpoint is not null && (!DeviceAuthorizationEndpoint.IsAbsoluteUri
            || (DeviceAuthorizationEndpoint.Scheme != Uri.UriSchemeHttps && DeviceAuthorizationEndpoint.Scheme != Uri.UriSchemeHttp)))
            errors.Add($"{prefix}:DeviceAuthorizationEndpoint must be an absolute http(s) URL.");
        if (MaxGrantLifetime is { } grant && (grant <= TimeSpan.Zero || grant > TimeSpan.FromDays(3650)))
            errors.Add($"{prefix}:MaxGrantLifetime must be more than 0 and at most 3650 days (a TimeSpan such as 30.00:00:00).");
        return errors;
    }
}
