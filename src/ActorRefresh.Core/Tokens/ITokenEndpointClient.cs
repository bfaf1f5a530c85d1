using ActorRefresh.Core.Providers;

namespace ActorRefresh.Core.Tokens;

/// <summary>
/// Performs one <c>refresh_token</c> grant against a provider's token endpoint. It never retries
/// (the account owns the retry policy) and never throws for anything the provider or the network
/// does: every answer and every failure becomes a <see cref="RefreshOutcome"/>. Only
/// cancellation by the caller surfaces as
/// <see cref="OperationCanceledException"/>.
/// </summary>
public interface ITokenEndpointClient
{
    /// <summary>Spends <paramref name="refreshToken"/> once and classifies the answer.</summary>
    Task<RefreshOutcome> RefreshAsync(ProviderProfile provider, Secret refreshToken, CancellationToken cancellationToken);
}
