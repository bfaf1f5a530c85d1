using System.Text;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Credentials;

/// <summary>
/// The <c>claudeAiOauth</c> part of a Claude Code credentials file. Printing it (records print their
/// members) shows token fingerprints only.
/// </summary>
/// <param name="AccessToken">The access token.</param>
/// <param name="RefreshToken">The refresh token; null for a file that holds none (a long-lived <c>claude setup-token</c> token, or an
/// access-only file written for a sandbox): such credentials are never refreshed.</param>
/// <param name="ExpiresAt">When the access token expires (stored as epoch milliseconds in the file).</param>
/// <param name="Scopes">Granted scopes.</param>
/// <param name="SubscriptionType">Subscription kind the CLI recorded (e.g. <c>max</c>), if any.</param>
public sealed record ClaudeCredentials(Secret AccessToken, Secret? RefreshToken, DateTimeOffset ExpiresAt, IReadOnlyList<string> Scopes, string? SubscriptionType)
{
    /// <summary>When the grant ends (<c>refreshTokenExpiresAt</c>, epoch milliseconds), when the file says so; null otherwise.</summary>
    public DateTimeOffset? RefreshTokenExpiresAt { get; init; }

    private bool PrintMembers(StringBuilder builder)
    {
        // Written out explicitly so a member added later is not printed by accident.
        builder.Append("AccessToken = ").Append(AccessToken.ToString())
            .Append(", RefreshToken = ").Append(RefreshToken?.ToString() ?? "null")
            .Append(", ExpiresAt = ").Append(ExpiresAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture))
            .Append(", Scopes = [").AppendJoin(' ', Scopes).Append(']')
            .Append(", SubscriptionType = ").Append(SubscriptionType ?? "null")
            .Append(", RefreshTokenExpiresAt = ").Append(RefreshTokenExpiresAt?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "null");
        return true;
    }
}
