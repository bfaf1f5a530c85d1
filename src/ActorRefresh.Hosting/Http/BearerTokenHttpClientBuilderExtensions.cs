using ActorRefresh.Hosting;
using ActorRefresh.Hosting.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Wires <see cref="BearerTokenHandler"/> into named and typed <see cref="HttpClient"/>s.</summary>
public static class BearerTokenHttpClientBuilderExtensions
{
    /// <summary>
    /// Authenticates every request of this client as <paramref name="accountId"/> with a bearer token
    /// from the registered <see cref="ITokenProvider"/>, retrying once with a fresh token after a 401.
    /// </summary>
    /// <param name="builder">The client builder.</param>
    /// <param name="accountId">The account whose tokens the client sends.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static IHttpClientBuilder AddActorRefreshBearerToken(this IHttpClientBuilder builder, string accountId)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(accountId);
        return builder.AddHttpMessageHandler(sp => new BearerTokenHandler(sp.GetRequiredService<ITokenProvider>(), accountId));
    }
}
