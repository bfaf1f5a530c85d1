using System.Net.Http.Headers;
using ActorRefresh.TestKit;
using Microsoft.AspNetCore.Builder;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary><c>serve</c> in-process with the real engine (SQLite) against the fake token server, its log captured.</summary>
public sealed class ServeFixture : IAsyncLifetime
{
    public const string Key = "sec-key-0123456789abcdefXYZ-ghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
    private readonly LogBuffer _log = new();

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "actorrefresh-sec-" + Guid.NewGuid().ToString("N"));

    /// <summary>The folder listed in ActorRefresh:Sync:AllowedFolders (inside the data folder, so it is private).</summary>
    public string SyncFolder => Path.Combine(Directory, "sync");
    public FakeTokenServer Server { get; private set; } = null!;
    public WebApplication App { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public Uri BaseAddress { get; private set; } = null!;
    public string Log => _log.ToString();

    /// <summary>Extra settings (e.g. PostgreSQL storage) applied over the defaults.</summary>
    public IDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        Server = await FakeTokenServer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["ActorRefresh:Api:Key"] = Key,
            ["ActorRefresh:Storage:DataDirectory"] = Directory,
            ["ActorRefresh:Providers:claude:TokenEndpoint"] = Server.TokenEndpoint.ToString(),
            ["ActorRefresh:Engine:SnapshotEvery"] = "2",
            // The key tests send many wrong keys from one address on purpose.
            ["ActorRefresh:Api:FailedKeyLimit"] = "100000",
            ["ActorRefresh:Sync:AllowedFolders:0"] = SyncFolder,
        };
        foreach (var (k, v) in Settings) settings[k] = v;
        App = ActorRefreshWebHost.Build(new ServeSettings(["http://127.0.0.1:0"], ConfigOverrides: settings,
            LogOutput: _log.Writer), EngineRegistration.Add);
        await App.StartAsync();
        System.IO.Directory.CreateDirectory(SyncFolder);
        BaseAddress = new Uri(App.Urls.First().TrimEnd('/') + "/");
        Client = NewClient(Key);
    }

    public HttpClient NewClient(string? key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async Task StopAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        try { await StopAsync(); } catch (ObjectDisposedException) { }
        await Server.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
