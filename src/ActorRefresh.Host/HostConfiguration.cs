using Microsoft.Extensions.Configuration;

namespace ActorRefresh.Host;

/// <summary>Configuration sources of the host, later ones winning.</summary>
internal static class HostConfiguration
{
    /// <summary>
    /// <c>config/appsettings.json</c> next to the executable (safe defaults), then the <c>--config</c>
    /// file, then environment variables (<c>ActorRefresh__Api__Key</c> …).
    /// </summary>
    /// <exception cref="FileNotFoundException"><paramref name="configPath"/> does not exist.</exception>
    public static void Apply(IConfigurationBuilder configuration, string? configPath)
    {
        configuration.Sources.Clear();
        configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "config", "appsettings.json"), optional: true, reloadOnChange: false);
        if (!string.IsNullOrWhiteSpace(configPath))
        {
            var full = Path.GetFullPath(configPath);
            if (!File.Exists(full))
                throw new FileNotFoundException($"Configuration file '{full}' does not exist.", full);
            configuration.AddJsonFile(full, optional: false, reloadOnChange: false);
        }
        configuration.AddEnvironmentVariables();
    }
}
