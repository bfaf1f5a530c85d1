using System.Collections.Immutable;
using System.Net;
using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Management.Cluster.Bootstrap.ContactPoint;

namespace ActorRefresh.Hosting;

/// <summary>
/// The management endpoint the cluster bootstrap of the other nodes probes: <c>GET /bootstrap/seed-nodes</c> on this
/// node's own address, answering this node's address and the cluster members it sees Up (or joining) and reachable, in
/// Akka.Management's wire format (its own JSON types, through Newtonsoft as its client reads them). Nothing else is served.
/// Akka.Management's own HTTP server (Akka.Http.Shim) cannot start with the Ceen.Httpd build that resolves here
/// (0.9.10 changed a method it calls), hence this small one; the bootstrap itself (discovery, probing, the join
/// decision) is Akka.Management's.
/// </summary>
internal sealed class BootstrapContactPoint : IDisposable
{
    internal const string SeedNodesPath = "/bootstrap/seed-nodes";

    private readonly HttpListener _listener = new();
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly ILoggingAdapter _log;

    private BootstrapContactPoint(ActorSystem system, Uri baseUri)
    {
        _cluster = Akka.Cluster.Cluster.Get(system);
        _log = Logging.GetLogger(system, typeof(BootstrapContactPoint));
        BaseUri = baseUri;
        _listener.Prefixes.Add(baseUri.ToString());
    }

    /// <summary>Base address the endpoint serves under, <c>http://host:port/</c>.</summary>
    public Uri BaseUri { get; }

    /// <summary>Binds to <paramref name="hostname"/>:<paramref name="port"/> (throws if the port is taken) and serves until disposed.</summary>
    public static BootstrapContactPoint Start(ActorSystem system, string hostname, int port)
    {
        var host = IPAddress.TryParse(hostname, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : hostname;
        var endpoint = new BootstrapContactPoint(system, new Uri($"http://{host}:{port}/"));
        endpoint._listener.Start();
        endpoint._log.Info("Cluster bootstrap contact point listening on {Address}", endpoint.BaseUri);
        _ = endpoint.ServeAsync();
        return endpoint;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // Stopped.
            }
            try
            {
                Answer(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                _log.Debug("Cluster bootstrap contact point: the answer to a probe was not sent ({ErrorType})", e.GetType().Name);
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        using var response = context.Response;
        if (context.Request.HttpMethod != "GET" || context.Request.Url?.AbsolutePath != SeedNodesPath)
        {
            response.StatusCode = (int)HttpStatusCode.NotFound;
            return;
        }
        var body = Encoding.UTF8.GetBytes(Newtonsoft.Json.JsonConvert.SerializeObject(SeedNodes()));
        response.ContentType = "application/json";
        response.ContentLength64 = body.Length;
        response.OutputStream.Write(body);
    }

    private HttpBootstrapJsonProtocol.SeedNodes SeedNodes()
    {
        var self = _cluster.SelfMember;
        // A node on its way out offers no seed nodes: a prober must not join a cluster through it.
        if (self.Status is MemberStatus.Down or MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Removed)
            return new HttpBootstrapJsonProtocol.SeedNodes(self.UniqueAddress.Address, []);
        var state = _cluster.State;
        var members = state.Members
            .Where(m => !state.Unreachable.Contains(m) && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining)
            .Select(m => new HttpBootstrapJsonProtocol.ClusterMember(m.UniqueAddress.Address, m.UniqueAddress.Uid, m.Status, m.Roles))
            .ToImmutableList();
        return new HttpBootstrapJsonProtocol.SeedNodes(self.UniqueAddress.Address, members);
    }

    public void Dispose()
    {
        if (_listener.IsListening) _listener.Stop();
        _listener.Close();
    }
}
