using ActorRefresh.Hosting;
using ActorRefresh.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ActorRefresh.Hosting.Tests;

/// <summary>A real generic host with <c>AddActorRefresh</c> over a temp SQLite folder and the fake token server.</summary>
internal sealed class HostedEngine : IAsyncDisposable
{
    private HostedEngine(IHost host, FakeTokenServer server, string directory)
    {
        Host = host;
        Server = server;
        Directory = directory;
    }

    public IHost Host { get; }
    public FakeTokenServer Server { get; }
    public string Directory { get; }
    public ITokenProvider Tokens => Host.Services.GetRequiredService<ITokenProvider>();

    public IAccountAdmin Accounts => Host.Services.GetRequiredService<IAccountAdmin>();

    public IAccountPools Pools => Host.Services.GetRequiredService<IAccountPools>();

    public static string NewDirectory() => Path.Combine(Path.GetTempPath(), "actorrefresh-hosting-" + Guid.NewGuid().ToString("N"));

    public static IHost Build(IDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddActorRefresh(builder.Configuration);
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    public static async Task<HostedEngine> StartAsync(FakeTokenServer? server = null, IDictionary<string, string?>? extra = null, string? directory = null,
        Action<IServiceCollection>? services = null)
    {
        server ??= await FakeTokenServer.StartAsync();
        directory ??= NewDirectory();
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Storage:DataDirectory"] = directory,
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = server.TokenEndpoint.ToString(),
            ["ActorRefresh:Providers:claude:UsageEndpoint"] = server.UsageEndpoint.ToString(),
            ["ActorRefresh:Engine:AskTimeout"] = "00:00:20",
        };
        foreach (var kv in extra ?? new Dictionary<string, string?>()) settings[kv.Key] = kv.Value;
        var host = Build(settings, services);
        await host.StartAsync();
        return new HostedEngine(host, server, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
        await Server.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
