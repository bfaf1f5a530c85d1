using System.Diagnostics.CodeAnalysis;

namespace ActorRefresh.Core.Providers;

/// <summary>
/// The configured OAuth providers by name (case-insensitive). The built-in <c>claude</c> profile is
/// always present; more come from configuration section <c>ActorRefresh:Providers:&lt;name&gt;</c>.
/// </summary>
public interface IProviderRegistry
{
    /// <summary>Looks a provider up by name (case-insensitive).</summary>
    /// <param name="name">The provider name, e.g. <c>claude</c>.</param>
    /// <param name="profile">A copy of the profile when found (changing it does not affect the registry).</param>
    /// <returns>True when the provider is registered.</returns>
    bool TryGet(string name, [NotNullWhen(true)] out ProviderProfile? profile);

    /// <summary>Names of all registered providers.</summary>
    IReadOnlyCollection<string> Names { get; }
}
