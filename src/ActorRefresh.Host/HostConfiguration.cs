using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Configuration.KeyPerFile;
using Microsoft.Extensions.FileProviders;

namespace ActorRefresh.Host;

/// <summary>Configuration sources of the host, later ones winning.</summary>
internal static class HostConfiguration
{
    /// <summary>The overlay for cluster mode, next to <c>config/appsettings.json</c>.</summary>
    public const string ClusterOverlayFile = "appsettings.cluster.json";

    /// <summary>The setting naming a key-per-file directory (Kubernetes secret or config map mount).</summary>
    public const string ConfigDirectorySetting = "ActorRefresh:ConfigDirectory";

    /// <summary>
    /// Replaces the sources of <paramref name="configuration"/> with the host's, later ones winning:
    /// <list type="number">
    /// <item><c>config/appsettings.json</c> under <paramref name="baseDirectory"/> (safe defaults);</item>
    /// <item><c>config/appsettings.{Environment}.json</c>, optional;</item>
    /// <item>in cluster mode (<c>ActorRefresh:Cluster:Enabled</c>, e.g. from <c>serve --cluster</c>),
    /// <c>config/appsettings.cluster.json</c>: PostgreSQL storage and cluster defaults;</item>
    /// <item>the <c>--config</c> file;</item>
    /// <item>the key-per-file directory named by <see cref="ConfigDirectorySetting"/> in any other source: one file
    /// per key, <c>__</c> separating sections (<c>ActorRefresh__Api__Key</c>);</item>
    /// <item>environment variables (<c>ActorRefresh__Api__Key</c> …);</item>
    /// <item><paramref name="commandLine"/>: <c>serve</c>'s flags and <c>--set Key=Value</c>.</item>
    /// </list>
    /// </summary>
    /// <param name="configuration">The builder's configuration.</param>
    /// <param name="environmentName">The host environment (<c>DOTNET_ENVIRONMENT</c>/<c>ASPNETCORE_ENVIRONMENT</c>, <c>Production</c> by default).</param>
    /// <param name="configPath">The <c>--config</c> file, if any.</param>
    /// <param name="commandLine">Settings from the command line, if any.</param>
    /// <param name="baseDirectory">Where <c>config/</c> is; the executable's folder by default.</param>
    /// <exception cref="FileNotFoundException"><paramref name="configPath"/> does not exist.</exception>
    /// <exception cref="InvalidOperationException">The configured directory does not exist or cannot be read.</exception>
    public static void Apply(
        IConfigurationManager configuration,
        string environmentName,
        string? configPath,
        IEnumerable<KeyValuePair<string, string?>>? commandLine = null,
        string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrWhiteSpace(environmentName);
        var configFolder = Path.Combine(baseDirectory ?? AppContext.BaseDirectory, "config");

        configuration.Sources.Clear();
        configuration.AddJsonFile(Path.Combine(configFolder, "appsettings.json"), optional: true, reloadOnChange: false);
        configuration.AddJsonFile(Path.Combine(configFolder, $"appsettings.{environmentName}.json"), optional: true, reloadOnChange: false);
        var afterAppSettings = configuration.Sources.Count;
        if (!string.IsNullOrWhiteSpace(configPath))
        {
            var full = Path.GetFullPath(configPath);
            if (!File.Exists(full))
                throw new FileNotFoundException($"Configuration file '{full}' does not exist.", full);
            configuration.AddJsonFile(full, optional: false, reloadOnChange: false);
        }
        var beforeEnvironment = configuration.Sources.Count;
        configuration.AddEnvironmentVariables();
        if (commandLine is not null)
            configuration.AddInMemoryCollection(commandLine);

        if (configuration.GetValue<bool>("ActorRefresh:Cluster:Enabled"))
        {
            var overlay = new JsonConfigurationSource
            {
                Path = Path.Combine(configFolder, ClusterOverlayFile),
                Optional = true,
                ReloadOnChange = false,
            };
            overlay.ResolveFileProvider();
            configuration.Sources.Insert(afterAppSettings, overlay);
            beforeEnvironment++;
        }

        if (configuration[ConfigDirectorySetting] is { Length: > 0 } directory)
        {
            var (source, full) = KeyPerFile(directory);
            try
            {
                configuration.Sources.Insert(beforeEnvironment, source);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // The message names the file, never its content.
                throw new InvalidOperationException($"{ConfigDirectorySetting}: cannot read directory '{full}': {exception.Message}", exception);
            }
        }
    }

    /// <summary>A key-per-file source over an existing directory; its values never appear in an error.</summary>
    private static (KeyPerFileConfigurationSource Source, string FullPath) KeyPerFile(string directory)
    {
        string full;
        try
        {
            full = Path.GetFullPath(directory);
        }
        catch (Exception exception) when (exception is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new InvalidOperationException($"{ConfigDirectorySetting}: '{directory}' is not a valid path.", exception);
        }
        if (!Directory.Exists(full))
            throw new InvalidOperationException($"{ConfigDirectorySetting}: directory '{full}' does not exist.");
        // The provider's file provider skips dot-prefixed entries: Kubernetes' ..data and ..<timestamp> folders.
        return (new KeyPerFileConfigurationSource
        {
            FileProvider = new PhysicalFileProvider(full),
            Optional = false,
            ReloadOnChange = false,
            SectionDelimiter = "__",
        }, full);
    }

    /// <summary>
    /// Reads one <c>--set Key=Value</c>: the key (sections separated by <c>:</c> or <c>__</c>) up to the first <c>=</c>.
    /// </summary>
    /// <param name="argument">The argument as given.</param>
    /// <param name="setting">The key and value.</param>
    /// <returns>Whether the argument has a key and an <c>=</c>.</returns>
    public static bool TryParseSetting(string argument, out KeyValuePair<string, string?> setting)
    {
        ArgumentNullException.ThrowIfNull(argument);
        var equals = argument.IndexOf('=', StringComparison.Ordinal);
        var key = equals > 0 ? argument[..equals].Trim().Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal) : "";
        if (key.Length == 0)
        {
            setting = default;
            return false;
        }
        setting = new KeyValuePair<string, string?>(key, argument[(equals + 1)..]);
        return true;
    }
}
