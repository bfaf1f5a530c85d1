namespace ActorRefresh.Core.Providers;

/// <summary>
/// Built-in provider defaults. Every value is configuration with a default, never a constant baked into
/// logic: a section <c>ActorRefresh:Providers:claude</c> overlays <see cref="Claude"/>, any other section
/// name starts from <see cref="Generic"/>. Each property returns a fresh copy.
/// </summary>
public static class BuiltInProviders
{
    /// <summary>Name of the built-in Claude profile.</summary>
    public const string ClaudeName = "claude";

    /// <summary>Name of the generic RFC 6749 template.</summary>
    public const string GenericName = "generic";

    /// <summary>
    /// Claude (Anthropic) OAuth as public clients use it: JSON body, public client id, no secret,
    /// token endpoint <c>https://platform.claude.com/v1/oauth/token</c>, usage endpoint
    /// <c>https://api.anthropic.com/api/oauth/usage</c> with <c>anthropic-beta: oauth-2025-04-20</c>.
    /// </summary>
    public static ProviderProfile Claude => new()
    {
        Name = ClaudeName,
        TokenEndpoint = new Uri("https://platform.claude.com/v1/oauth/token"),
        ClientId = "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        Scope = "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload",
        BodyFormat = TokenBodyFormat.Json,
        ClientAuth = ClientAuthMethod.Basic,
        UserAgent = "ActorRefresh/1.0",
        UsageEndpoint = new Uri("https://api.anthropic.com/api/oauth/usage"),
        AuthorizeEndpoint = new Uri("https://claude.ai/oauth/authorize"),
        RedirectUri = new Uri("https://console.anthropic.com/oauth/code/callback"),
        AuthorizeParameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["code"] = "true" },
        LoginScope = "org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload",
        UsageHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["anthropic-beta"] = "oauth-2025-04-20",
        },
    };

    /// <summary>
    /// Template for any RFC 6749 provider: form-encoded body, HTTP Basic client authentication when a
    /// secret is set. <see cref="ProviderProfile.TokenEndpoint"/> and <see cref="ProviderProfile.ClientId"/>
    /// must come from configuration.
    /// </summary>
    public static ProviderProfile Generic => new()
    {
        Name = GenericName,
        BodyFormat = TokenBodyFormat.Form,
        ClientAuth = ClientAuthMethod.Basic,
        UserAgent = "ActorRefresh/1.0",
    };
}
