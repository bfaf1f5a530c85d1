namespace ActorRefresh.TestKit;

/// <summary>A token pair the <see cref="FakeTokenServer"/> issued for one account.</summary>
/// <param name="AccessToken">The access token (<c>sk-ant-oat01-…</c>).</param>
/// <param name="RefreshToken">The refresh token (<c>sk-ant-ort01-…</c>).</param>
/// <param name="ExpiresAt">When the access token expires, on the server's clock.</param>
public sealed record FakeAccountTokens(string AccessToken, string RefreshToken, DateTimeOffset ExpiresAt)
{
    /// <summary>Describes the pair without its secrets, so assertion messages and test logs never carry a token.</summary>
    /// <returns>A redacted description.</returns>
    public override string ToString() => $"FakeAccountTokens {{ ExpiresAt = {ExpiresAt:O} }}";
}
