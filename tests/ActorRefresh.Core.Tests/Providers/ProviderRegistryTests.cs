using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Tests.Providers;

public sealed class ProviderRegistryTests
{
    private static ServiceProvider Build(IConfiguration configuration) =>
        new ServiceCollection().AddActorRefreshCore(configuration).BuildServiceProvider();

    private static ServiceProvider Build(Dictionary<string, string?> settings) =>
        Build(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());

    /// <summary>What a host does at start: run every ValidateOnStart registration.</summary>
    private static void ValidateOnStart(IServiceProvider services) =>
        services.GetRequiredService<IStartupValidator>().Validate();

    [Fact]
    public void Claude_is_built_in_with_the_documented_defaults()
    {
        using var services = Build([]);
        ValidateOnStart(services);
        var registry = services.GetRequiredService<IProviderRegistry>();

        Assert.Equal(["claude"], registry.Names);
        Assert.True(registry.TryGet("CLAUDE", out var claude));
        Assert.Equal(new Uri("https://platform.claude.com/v1/oauth/token"), claude.TokenEndpoint);
        Assert.Equal("9d1c250a-e61b-44d9-88ed-5944d1962f5e", claude.ClientId);
        Assert.Null(claude.ClientSecret);
        Assert.Equal("user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload", claude.Scope);
        Assert.Equal(TokenBodyFormat.Json, claude.BodyFormat);
        Assert.Equal("ActorRefresh/1.0", claude.UserAgent);
        Assert.Equal(new Uri("https://api.anthropic.com/api/oauth/usage"), claude.UsageEndpoint);
        Assert.Equal("oauth-2025-04-20", claude.UsageHeaders["anthropic-beta"]);
        Assert.Empty(claude.Validate());
    }

    [Fact]
    public void Generic_template_is_form_and_basic()
    {
        var generic = BuiltInProviders.Generic;
        Assert.Equal(TokenBodyFormat.Form, generic.BodyFormat);
        Assert.Equal(ClientAuthMethod.Basic, generic.ClientAuth);
        Assert.Null(generic.TokenEndpoint);
        Assert.NotSame(BuiltInProviders.Claude, BuiltInProviders.Claude);
    }

    [Fact]
    public void A_claude_section_overlays_the_claude_defaults()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:Claude:UserAgent"] = "claude-cli/2.0.14 (external, cli)",
            ["ActorRefresh:Providers:Claude:RequestTimeout"] = "00:00:10",
            ["ActorRefresh:Providers:Claude:Headers:anthropic-client"] = "gw",
        });
        ValidateOnStart(services);
        var registry = services.GetRequiredService<IProviderRegistry>();

        Assert.Single(registry.Names);
        Assert.True(registry.TryGet("claude", out var claude));
        Assert.Equal("claude-cli/2.0.14 (external, cli)", claude.UserAgent);
        Assert.Equal(TimeSpan.FromSeconds(10), claude.RequestTimeout);
        Assert.Equal("gw", claude.Headers["ANTHROPIC-CLIENT"]);
        Assert.Equal(new Uri("https://platform.claude.com/v1/oauth/token"), claude.TokenEndpoint); // kept
        Assert.Equal(TokenBodyFormat.Json, claude.BodyFormat); // kept
        Assert.Equal("oauth-2025-04-20", claude.UsageHeaders["anthropic-beta"]); // kept
    }

    [Fact]
    public void Other_sections_start_from_the_generic_template()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:Acme:TokenEndpoint"] = "https://id.acme.test/oauth2/token",
            ["ActorRefresh:Providers:Acme:ClientId"] = "acme-gw",
            ["ActorRefresh:Providers:Acme:ClientSecret"] = "s3cret",
            ["ActorRefresh:Providers:Acme:ClientAuth"] = "post",
        });
        ValidateOnStart(services);
        var registry = services.GetRequiredService<IProviderRegistry>();

        Assert.Equal(["Acme", "claude"], registry.Names);
        Assert.True(registry.TryGet("acme", out var acme));
        Assert.Equal("Acme", acme.Name);
        Assert.Equal(new Uri("https://id.acme.test/oauth2/token"), acme.TokenEndpoint);
        Assert.Equal(TokenBodyFormat.Form, acme.BodyFormat);
        Assert.Equal(ClientAuthMethod.Post, acme.ClientAuth);
        Assert.Null(acme.Scope);
        Assert.Null(acme.UsageEndpoint);
        Assert.False(registry.TryGet("nope", out _));
    }

    [Fact]
    public void Environment_variable_keys_configure_a_provider()
    {
        var prefix = $"ARTEST_{Guid.NewGuid():N}_";
        var variables = new Dictionary<string, string>
        {
            [prefix + "ActorRefresh__Providers__x__TokenEndpoint"] = "https://x.test/token",
            [prefix + "ActorRefresh__Providers__x__ClientId"] = "x-client",
            [prefix + "ActorRefresh__Providers__x__BodyFormat"] = "Json",
            [prefix + "ActorRefresh__Providers__claude__Scope"] = "user:inference",
        };
        try
        {
            foreach (var (name, value) in variables) Environment.SetEnvironmentVariable(name, value);
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build();
            using var services = Build(configuration);
            ValidateOnStart(services);
            var registry = services.GetRequiredService<IProviderRegistry>();

            Assert.True(registry.TryGet("X", out var x));
            Assert.Equal(new Uri("https://x.test/token"), x.TokenEndpoint);
            Assert.Equal("x-client", x.ClientId);
            Assert.Equal(TokenBodyFormat.Json, x.BodyFormat);
            Assert.True(registry.TryGet("claude", out var claude));
            Assert.Equal("user:inference", claude.Scope);
        }
        finally
        {
            foreach (var name in variables.Keys) Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void In_memory_keys_shaped_like_the_environment_configure_a_provider()
    {
        // What AddEnvironmentVariables produces from ActorRefresh__Providers__x__TokenEndpoint.
        using var services = Build(new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:x:TokenEndpoint"] = "https://x.test/token",
            ["ActorRefresh:Providers:x:ClientId"] = "x-client",
        });
        ValidateOnStart(services);
        Assert.True(services.GetRequiredService<IProviderRegistry>().TryGet("x", out var x));
        Assert.Equal("x-client", x.ClientId);
    }

    [Fact]
    public void Start_up_validation_names_the_missing_key()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:x:ClientId"] = "x-client",
            ["ActorRefresh:Providers:y:TokenEndpoint"] = "/relative",
        });

        var ex = Assert.Throws<OptionsValidationException>(() => ValidateOnStart(services));

        Assert.Contains("ActorRefresh:Providers:x:TokenEndpoint is required.", ex.Failures);
        Assert.Contains("ActorRefresh:Providers:y:TokenEndpoint must be an absolute http(s) URL.", ex.Failures);
        Assert.Contains("ActorRefresh:Providers:y:ClientId is required.", ex.Failures);
    }

    [Fact]
    public void Unbindable_values_are_reported_with_their_key()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["ActorRefresh:Providers:x:TokenEndpoint"] = "https://x.test/token",
            ["ActorRefresh:Providers:x:ClientId"] = "x-client",
            ["ActorRefresh:Providers:x:RequestTimeout"] = "forever",
        });

        var ex = Assert.Throws<OptionsValidationException>(() => ValidateOnStart(services));

        Assert.Contains(ex.Failures, f => f.Contains("ActorRefresh:Providers:x:RequestTimeout", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("30.00:00:00", null)]
    [InlineData("3650.00:00:00", null)]
    [InlineData("00:00:00", "ActorRefresh:Providers:claude:MaxGrantLifetime must be more than 0 and at most 3650 days")]
    [InlineData("3651.00:00:00", "ActorRefresh:Providers:claude:MaxGrantLifetime must be more than 0 and at most 3650 days")]
    public void A_maximum_grant_life_binds_and_is_validated_with_its_key(string value, string? fault)
    {
        using var services = Build(new Dictionary<string, string?> { ["ActorRefresh:Providers:claude:MaxGrantLifetime"] = value });

        if (fault is null)
        {
            ValidateOnStart(services);
            Assert.True(services.GetRequiredService<IProviderRegistry>().TryGet("claude", out var claude));
            Assert.Equal(TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture), claude.MaxGrantLifetime);
            return;
        }
        var ex = Assert.Throws<OptionsValidationException>(() => ValidateOnStart(services));
        Assert.Contains(ex.Failures, f => f.StartsWith(fault, StringComparison.Ordinal));
    }

    [Fact]
    public void Profiles_handed_out_are_copies()
    {
        using var services = Build([]);
        var registry = services.GetRequiredService<IProviderRegistry>();
        Assert.True(registry.TryGet("claude", out var first));
        first.UserAgent = "changed";
        Assert.True(registry.TryGet("claude", out var second));
        Assert.Equal("ActorRefresh/1.0", second.UserAgent);
    }

    [Fact]
    public void Backoff_options_bind_and_validate_on_start()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["ActorRefresh:Backoff:Base"] = "00:00:02",
            ["ActorRefresh:Backoff:Cap"] = "00:10:00",
            ["ActorRefresh:Backoff:RetryAfterMax"] = "00:30:00",
        });
        ValidateOnStart(services);
        var policy = services.GetRequiredService<BackoffPolicy>();
        Assert.Equal(TimeSpan.FromMinutes(30), policy.Limits.Max);
        Assert.Equal(TimeSpan.FromSeconds(2), services.GetRequiredService<IOptions<BackoffOptions>>().Value.Base);

        using var bad = Build(new Dictionary<string, string?> { ["ActorRefresh:Backoff:Cap"] = "-00:00:01" });
        var ex = Assert.Throws<OptionsValidationException>(() => ValidateOnStart(bad));
        Assert.Contains("ActorRefresh:Backoff:Cap must be greater than zero.", ex.Failures);
    }

    [Fact]
    public void The_extension_registers_the_client_the_clock_and_keeps_a_registered_clock()
    {
        var fake = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var collection = new ServiceCollection().AddSingleton<TimeProvider>(fake);
        collection.AddActorRefreshCore(new ConfigurationBuilder().Build());
        using var services = collection.BuildServiceProvider();

        Assert.Same(fake, services.GetRequiredService<TimeProvider>());
        Assert.IsType<TokenEndpointClient>(services.GetRequiredService<ITokenEndpointClient>());
        Assert.NotNull(services.GetRequiredService<IHttpClientFactory>().CreateClient(TokenEndpointClient.HttpClientName));

        using var plain = new ServiceCollection().AddActorRefreshCore(new ConfigurationBuilder().Build()).BuildServiceProvider();
        Assert.Same(TimeProvider.System, plain.GetRequiredService<TimeProvider>());
    }
}
