namespace ActorRefresh.TestKit;

/// <summary>Settings of a <see cref="FakeTokenServer"/>. Every property has a default that behaves like the real Claude endpoints.</summary>
public sealed class FakeTokenServerOptions
{
    /// <summary>
    /// Clock used for token expiry, <c>Retry-After</c> deadlines, <see cref="Latency"/> and <see cref="FakeFault.Delay"/>.
    /// Pass a <c>FakeTimeProvider</c> to control time from a test; delays then only end when that clock is advanced.
    /// Defaults to <see cref="TimeProvider.System"/>.
    /// </summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Lifetime of every issued access token (<c>expires_in</c>). Defaults to 8 hours, like Claude. Zero is allowed: every
    /// token then arrives already expired, as from a provider answering <c>expires_in: 0</c>.
    /// </summary>
    public TimeSpan AccessTokenLifetime { get; init; } = TimeSpan.FromHours(8);

    /// <summary>
    /// When set, every successful token answer also says when the grant ends (<c>refresh_token_expires_in</c>, in seconds),
    /// as some providers do. Claude does not; null (the default) sends nothing.
    /// </summary>
    public TimeSpan? RefreshTokenLifetime { get; init; }

    /// <summary>When set, a token request with another (or no) <c>client_id</c> is answered 400 <c>invalid_client</c>.</summary>
    public string? RequiredClientId { get; init; }

    /// <summary>When true, a token request without a <c>User-Agent</c> header is answered like the CDN does: 403 HTML with "error code: 1010".</summary>
    public bool RequireUserAgent { get; init; }

    /// <summary>
    /// Time (on <see cref="Time"/>) added before every answer of the token endpoint except the CDN's User-Agent refusal.
    /// Requests waiting on it count as in flight. Defaults to zero.
    /// </summary>
    public TimeSpan Latency { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// When true (the default) a successful refresh consumes the presented refresh token and returns a new one.
    /// When false the same refresh token is returned and stays valid.
    /// </summary>
    public bool RotateRefreshTokens { get; init; } = true;
}
