using ActorRefresh.Host.Api;
using ActorRefresh.Host.Logging;
using ActorRefresh.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Serilog;

namespace ActorRefresh.Host;

/// <summary>What <c>serve</c> was asked for.</summary>
/// <param name="Urls">Listen URLs.</param>
/// <param name="LogFormat">Console log format.</param>
/// <param name="ConfigPath">Extra configuration file, if any.</param>
/// <param name="ConfigOverrides">Settings applied last: <c>serve</c>'s flags and <c>--set</c> (and tests).</param>
/// <param name="LogOutput">Where log lines go instead of the console (tests).</param>
internal sealed record ServeSettings(
    IReadOnlyList<string> Urls,
    LogFormat LogFormat = LogFormat.Text,
    string? ConfigPath = null,
    IReadOnlyDictionary<string, string?>? ConfigOverrides = null,
    TextWriter? LogOutput = null)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";
}

/// <summary>Builds the serving web application out of the composable pieces.</summary>
internal static class ActorRefreshWebHost
{
    /// <summary>
    /// Builds the application: configuration (<see cref="HostConfiguration.Apply"/>), Serilog
    /// (<see cref="LoggingSetup.CreateLogger"/>), <see cref="AddActorRefreshHttpApi"/>, the engine via
    /// <paramref name="registerEngine"/> (<see cref="EngineRegistration.Add"/> in <c>serve</c>, a test double in tests),
    /// <see cref="ListenGuard.EnsureSafe"/>, then <see cref="UseActorRefreshHttpApi"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A configured directory is missing, no <see cref="ITokenProvider"/> was registered, a weak or unsafe key (file), no key on a non-loopback URL, or plain HTTP off loopback.</exception>
    public static WebApplication Build(ServeSettings settings, Action<IServiceCollection, IConfiguration> registerEngine)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(registerEngine);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(ActorRefreshWebHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        HostConfiguration.Apply(builder.Configuration, builder.Environment.EnvironmentName, settings.ConfigPath, settings.ConfigOverrides);

        var logger = LoggingSetup.CreateLogger(builder.Configuration, settings.LogFormat, settings.LogOutput);
        builder.Logging.ClearProviders();
        builder.Services.AddSerilog(logger, dispose: true);

        builder.Services.AddActorRefreshHttpApi(builder.Configuration);
        registerEngine(builder.Services, builder.Configuration);
        if (!builder.Services.Any(d => d.ServiceType == typeof(ITokenProvider)))
        {
            logger.Dispose();
            throw new InvalidOperationException(
                "No engine is registered (no ITokenProvider service): EngineRegistration.Add must call services.AddActorRefresh(configuration).");
        }

        var urls = settings.Urls.Count > 0 ? settings.Urls : [ServeSettings.DefaultUrl];
        var kestrelUrls = builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Select(e => e["Url"]).OfType<string>();
        try
        {
            // The key as the middleware will see it: from the setting or the key file, checked for strength.
            var singleKey = ApiKeys.Resolve(builder.Configuration);
            var resolved = ApiKeys.ResolveNamed(builder.Configuration, singleKey);
            resolved[ApiOptions.KeySetting] = singleKey ?? "";
            builder.Configuration.AddInMemoryCollection(resolved);
            var apiOptions = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
            ListenGuard.EnsureSafe(urls.Concat(kestrelUrls), apiOptions);
            if (apiOptions.ValidateLimits() is [var first, ..]) throw new InvalidOperationException(first);
        }
        catch
        {
            logger.Dispose();
            throw;
        }
        builder.WebHost.UseUrls([.. urls]);

        var app = builder.Build();
        app.UseActorRefreshHttpApi();
        return app;
    }

    /// <summary>Options, JSON shape, body limit, metrics and the Prometheus exporter for the API.</summary>
    public static IServiceCollection AddActorRefreshHttpApi(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ApiOptions>().Bind(configuration.GetSection(ApiOptions.Section));
        services.AddSingleton<Api.Limits>();
        services.AddSingleton<LoginSessions>();
        services.AddOptions<SyncOptions>().Bind(configuration.GetSection(SyncOptions.Section));
        services.AddOptions<ActorRefresh.Engine.StorageOptions>().Bind(configuration.GetSection(ActorRefresh.Engine.StorageOptions.Section));
        services.AddSingleton<SyncBindings>();
        services.AddSingleton<FailedKeyLimiter>();
        services.AddSingleton<ApiKeyRing>();
        services.AddAuthentication(BrowserSessions.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddBrowserSessions();
        ApiScopes.AddScopePolicies(services.AddAuthorizationBuilder());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<HostMetrics>();
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        // Every problem answer (mapped failures, refused keys, 500s) carries the request's trace id for the log.
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
            c.ProblemDetails.Extensions["traceId"] = ApiExceptionHandler.TraceIdOf(c.HttpContext));
        services.AddExceptionHandler<ApiExceptionHandler>();
        // The engine's Akka.Hosting checks (actor system, stores, cluster) join these through AddAkka.
        services.AddHealthChecks().AddCheck<EngineReadinessCheck>(EngineReadinessCheck.Name, tags: [ActorRefreshHealthTags.Ready]);
        services.AddActorRefreshOpenApi();
        services.Configure<KestrelServerOptions>(o =>
        {
            o.Limits.MaxRequestBodySize = ApiOptions.MaxRequestBodyBytes;
            o.AddServerHeader = false;
        });
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("actor-refresh"))
            .WithMetrics(metrics => metrics
                .AddMeter(HostMetrics.MeterName)
                // The runtime's own meter (GC heap, working set, thread pool): what an operator and tests/soak.sh watch for leaks.
                .AddMeter("System.Runtime")
                // No cache: a scrape right after a request must see it.
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        // Traces go out only to a collector the operator names, with the standard variables (read here because the
        // host's configuration holds only its own sources).
        if (Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } endpoint)
            telemetry.WithTracing(tracing => tracing
                .AddSource(ActorRefresh.Engine.Observability.ActorRefreshDiagnostics.ActivitySourceName)
                // The request spans that login and lease spans are children of (unrecorded, the sampler drops those
                // children too); probes and scrapes are left out.
                .AddAspNetCoreInstrumentation(o => o.Filter = http =>
                    !http.Request.Path.StartsWithSegments("/metrics") && !http.Request.Path.StartsWithSegments("/healthz") && !http.Request.Path.StartsWithSegments("/readyz"))
                .AddOtlpExporter(o =>
                {
                    // As the variables define it: gRPC at the endpoint, or HTTP at the endpoint's /v1/traces.
                    if (Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL") is "http/protobuf")
                    {
                        o.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
                        o.Endpoint = new Uri(endpoint.TrimEnd('/') + "/v1/traces");
                    }
                    else
                        o.Endpoint = new Uri(endpoint);
                }));
        return services;
    }

    /// <summary>Middleware and endpoints: errors, API keys (authentication, scope policies, fallback policy), health, <c>/v1</c>, status page, <c>/metrics</c>.</summary>
    public static WebApplication UseActorRefreshHttpApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseNoStoreOnProtectedRoutes();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgeryForSessions();
        app.UseJsonBodiesOnProtectedRoutes();
        app.MapHealthEndpoints();
        app.MapActorRefreshApi();
        app.MapEventStream();
        app.MapLoginApi();
        app.MapStatusPage();
        app.MapSignInPage();
        // Metrics carry counts and states, never a token or account secret: scrapers need no key.
        app.MapPrometheusScrapingEndpoint(OpenApiDescription.MetricsPath).Public();
        // The API description holds no secret: public like the probes (see OpenApiDescription).
        app.MapActorRefreshOpenApi();

        if (!app.Services.GetRequiredService<IOptions<ApiOptions>>().Value.HasKey)
            app.Logger.LogWarning("No API key is configured ({Setting}): /v1 and the status page are open to anyone on this machine (loopback only)",
                ApiOptions.KeySetting);
        return app;
    }
}
