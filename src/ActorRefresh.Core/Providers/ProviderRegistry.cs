using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Providers;

/// <summary>Profiles as bound from configuration, plus binding failures (reported by validation, not thrown mid-binding).</summary>
internal sealed class ProviderRegistryOptions
{
    /// <summary>Configuration section holding one subsection per provider.</summary>
    public const string SectionName = "ActorRefresh:Providers";

    public Dictionary<string, ProviderProfile> Profiles { get; } = new(StringComparer.OrdinalIgnoreCase);

    public List<string> BindingErrors { get; } = [];

    /// <summary>Builds the profiles: built-in <c>claude</c>, then every configured section over its template.</summary>
    public static ProviderRegistryOptions From(IConfiguration configuration)
    {
        var options = new ProviderRegistryOptions();
        options.Load(configuration);
        return options;
    }

    /// <summary>Adds the built-in profile and overlays every <c>ActorRefresh:Providers:&lt;name&gt;</c> section.</summary>
    public void Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        Profiles[BuiltInProviders.ClaudeName] = BuiltInProviders.Claude;
        foreach (var section in configuration.GetSection(SectionName).GetChildren())
        {
            var isClaude = section.Key.Equals(BuiltInProviders.ClaudeName, StringComparison.OrdinalIgnoreCase);
            var profile = isClaude ? BuiltInProviders.Claude : BuiltInProviders.Generic;
            try
            {
                section.Bind(profile);
            }
            catch (InvalidOperationException ex)
            {
                // The binder's message names the full key and the target type, never the value.
                BindingErrors.Add(ex.Message);
                continue;
            }
            profile.Name = section.Key;
            Profiles[section.Key] = profile;
        }
    }
}

/// <summary>Start-up validation of every provider profile; each message names its configuration key.</summary>
internal sealed class ProviderRegistryOptionsValidator : IValidateOptions<ProviderRegistryOptions>
{
    public ValidateOptionsResult Validate(string? name, ProviderRegistryOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        foreach (var profile in options.Profiles.Values)
            errors.AddRange(profile.Validate());
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Immutable view of the validated profiles.</summary>
internal sealed class ProviderRegistry : IProviderRegistry
{
    private readonly Dictionary<string, ProviderProfile> _profiles;

    public ProviderRegistry(ProviderRegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _profiles = new Dictionary<string, ProviderProfile>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, profile) in options.Profiles)
            _profiles[name] = profile.Clone();
        Names = _profiles.Keys.Order(StringComparer.OrdinalIgnoreCase).ToArray();
    }

    public IReadOnlyCollection<string> Names { get; }

    public bool TryGet(string name, [NotNullWhen(true)] out ProviderProfile? profile)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_profiles.TryGetValue(name, out var found))
        {
            // Profiles are mutable classes; a copy keeps one caller from changing everyone's provider.
            profile = found.Clone();
            return true;
        }
        profile = null;
        return false;
    }
}
