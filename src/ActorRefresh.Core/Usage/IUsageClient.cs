using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;

namespace ActorRefresh.Core.Usage;

/// <summary>
/// Performs one call to a provider's usage (quota) endpoint with an access token. It never retries and never
/// throws for anything the provider or the network does: every answer and every failure becomes a
/// <see cref="UsageOutcome"/>. Only cancellation by the caller surfaces as <see cref="OperationCanceledException"/>.
/// </summary>
public interface IUsageClient
{
    /// <summary>Asks the provider for the quota of the account that owns <paramref name="accessToken"/>.</summary>
    /// <exception cref="ArgumentException">The provider has no <see cref="ProviderProfile.UsageEndpoint"/>.</exception>
    Task<UsageOutcome> CheckAsync(ProviderProfile provider, Secret accessToken, CancellationToken cancellationToken);
}
