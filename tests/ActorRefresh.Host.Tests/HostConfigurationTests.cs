using ActorRefresh.Host.Cli;
using ActorRefresh.Host.Tests.Reliability;
using ActorRefresh.Testing;
using Microsoft.Extensions.Configuration;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// The host's configuration sources over real files, in their documented order: appsettings.json,
/// appsettings.{Environment}.json, the cluster overlay, --config, the key-per-file directory, environment variables,
/// the command line; each one overrides every source before it.
/// </summary>
public sealed class HostConfigurationTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "actorrefresh-config-" + Guid.NewGuid().ToString("N"));
    // A section of its own, so the environment variables this test sets cannot touch any other test.
    private readonly string _section = "T" + Guid.NewGuid().ToString("N");
    private readonly List<string> _variables = [];

    public HostConfigurationTests() => Directory.CreateDirectory(Path.Combine(_folder, "config"));

    public void Dispose()
    {
        foreach (var variable in _variables) Environment.SetEnvironmentVariable(variable, null);
        Directory.Delete(_folder, recursive: true);
    }

    private static readonly string[] Sources = ["appsettings", "environment-file", "cluster", "config", "key-per-file", "variables", "command-line"];

    /// <summary>Source <paramref name="index"/> sets Level{index} … Level{last} to its own name.</summary>
    private IEnumerable<(string Level, string Value)> Levels(int index) =>
        Enumerable.Range(index, Sources.Length - index).Select(level => ($"Level{level}", Sources[index]));

    private string Json(int index, string? extra = null)
    {
        var levels = string.Join(", ", Levels(index).Select(l => $"\"{l.Level}\": \"{l.Value}\""));
        return $"{{ {extra}\"{_section}\": {{ {levels} }} }}";
    }

    [Fact]
    public void Each_source_overrides_every_source_before_it()
    {
        var keyPerFile = Path.Combine(_folder, "secrets");
        Directory.CreateDirectory(keyPerFile);
        // A Kubernetes secret mount: keys are links into a dot-prefixed folder, which is not read as a key.
        Directory.CreateDirectory(Path.Combine(keyPerFile, "..data"));
        File.WriteAllText(Path.Combine(_folder, "config", "appsettings.json"), Json(0));
        File.WriteAllText(Path.Combine(_folder, "config", "appsettings.Staging.json"), Json(1));
        File.WriteAllText(Path.Combine(_folder, "config", "appsettings.Production.json"), Json(0, "\"Wrong\": \"production\", "));
        File.WriteAllText(Path.Combine(_folder, "config", HostConfiguration.ClusterOverlayFile), Json(2));
        var configFile = Path.Combine(_folder, "extra.json");
        File.WriteAllText(configFile, Json(3, $"\"ActorRefresh\": {{ \"ConfigDirectory\": \"{keyPerFile}\" }}, "));
        foreach (var (level, value) in Levels(4))
        {
            File.WriteAllText(Path.Combine(keyPerFile, "..data", $"{_section}__{level}"), value + "\n");
            File.CreateSymbolicLink(Path.Combine(keyPerFile, $"{_section}__{level}"), Path.Combine("..data", $"{_section}__{level}"));
        }
        foreach (var (level, value) in Levels(5)) SetVariable($"{_section}__{level}", value);
        var commandLine = Levels(6).Select(l => new KeyValuePair<string, string?>($"{_section}:{l.Level}", l.Value))
            .Append(new KeyValuePair<string, string?>("ActorRefresh:Cluster:Enabled", "true"));

        var configuration = new ConfigurationManager();
        HostConfiguration.Apply(configuration, "Staging", configFile, commandLine, _folder);

        for (var level = 0; level < Sources.Length; level++)
            Assert.Equal(Sources[level], configuration[$"{_section}:Level{level}"]);
        Assert.Null(configuration["Wrong"]);
    }

    [Fact]
    public void Without_cluster_mode_the_overlay_is_not_read_and_a_missing_environment_file_is_fine()
    {
        File.WriteAllText(Path.Combine(_folder, "config", "appsettings.json"), Json(0));
        File.WriteAllText(Path.Combine(_folder, "config", HostConfiguration.ClusterOverlayFile), Json(2));

        var configuration = new ConfigurationManager();
        HostConfiguration.Apply(configuration, "Production", configPath: null, commandLine: null, _folder);

        Assert.Equal("appsettings", configuration[$"{_section}:Level2"]);
    }

    [Fact]
    public void A_directory_named_on_the_command_line_is_read_and_environment_variables_still_win_over_it()
    {
        var keyPerFile = Path.Combine(_folder, "from-variable");
        Directory.CreateDirectory(keyPerFile);
        File.WriteAllText(Path.Combine(keyPerFile, $"{_section}__A"), "file");
        File.WriteAllText(Path.Combine(keyPerFile, $"{_section}__B"), "file");
        SetVariable($"{_section}__B", "variable");
        var configuration = new ConfigurationManager();

        HostConfiguration.Apply(configuration, "Production", null,
            [new(HostConfiguration.ConfigDirectorySetting, keyPerFile)], _folder);

        Assert.Equal("file", configuration[$"{_section}:A"]);
        Assert.Equal("variable", configuration[$"{_section}:B"]);
    }

    [Fact]
    public void A_configured_directory_that_does_not_exist_is_an_error_naming_the_setting_and_the_path()
    {
        var missing = Path.Combine(_folder, "no-such-directory");
        var configuration = new ConfigurationManager();

        var error = Assert.Throws<InvalidOperationException>(() => HostConfiguration.Apply(configuration, "Production", null,
            [new(HostConfiguration.ConfigDirectorySetting, missing)], _folder));

        Assert.Contains(HostConfiguration.ConfigDirectorySetting, error.Message, StringComparison.Ordinal);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_config_file_is_an_error_naming_the_path()
    {
        var missing = Path.Combine(_folder, "missing.json");
        var error = Assert.Throws<FileNotFoundException>(() => HostConfiguration.Apply(new ConfigurationManager(), "Production", missing, null, _folder));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ActorRefresh:Engine:RefreshLead=00:10:00", "ActorRefresh:Engine:RefreshLead", "00:10:00")]
    [InlineData("ActorRefresh__Api__Key=a=b", "ActorRefresh:Api:Key", "a=b")]
    [InlineData("Key=", "Key", "")]
    public void A_set_argument_is_a_key_and_the_value_after_the_first_equals(string argument, string key, string value)
    {
        Assert.True(HostConfiguration.TryParseSetting(argument, out var setting));
        Assert.Equal(key, setting.Key);
        Assert.Equal(value, setting.Value);
    }

    [Fact]
    public async Task A_set_without_equals_stops_serve_with_exit_code_2_without_echoing_the_argument()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await new CliApp(output, error, new Spectre.Console.Testing.TestConsole(), _ => null)
            .RunAsync(["serve", "--urls", "http://127.0.0.1:0", "--set", "A=1", "--set", "secret-without-a-key"]);
        Assert.Equal(2, exit);
        Assert.Contains("--set", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("number 2", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-without-a-key", error.ToString() + output, StringComparison.Ordinal);
    }

    private void SetVariable(string name, string value)
    {
        _variables.Add(name);
        Environment.SetEnvironmentVariable(name, value);
    }
}
