using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;

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

    /// <summary>The overlay for cluster mode, next to <c>config/appsettings.json</c>.</summary>
    public const string ClusterOverlayFile = "appsettings.cluster.json";

    /// <summary>
    /// When the configuration so far enables cluster mode (<c>ActorRefresh:Cluster:Enabled</c>, e.g. from
    /// <c>serve --cluster</c>), puts <c>config/appsettings.cluster.json</c> right after <c>config/appsettings.json</c>:
    /// PostgreSQL storage and cluster defaults, which the <c>--config</c> file and environment variables still override.
    /// </summary>
    public static void ApplyClusterOverlay(IConfigurationManager configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (!configuration.GetValue<bool>("ActorRefresh:Cluster:Enabled")) return;
        var source = new JsonConfigurationSource
        {
            Path = Path.Combine(AppContext.BaseDirectory, "config", ClusterOverlayFile),
            Optional = true,
            ReloadOnChange = false,
        };
        source.ResolveFileProvider();
        configuration.Sources.Insert(Math.Min(1, configuration.Sources.Count), source);
    }
}
