using System.Globalization;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// Seed nodes found by discovery instead of a static <see cref="ClusterOptions.SeedNodes"/> list, bound from
/// <c>ActorRefresh:Cluster:Discovery</c>: Akka.Management's cluster bootstrap asks a discovery method for the nodes'
/// management endpoints, probes them over HTTP and joins the cluster they report (or, when none has formed yet, the node
/// with the lowest address forms it once <see cref="RequiredContactPoints"/> nodes answer).
/// </summary>
public sealed class ClusterDiscoveryOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string Section = ClusterOptions.Section + ":Discovery";

    /// <summary>The discovery method that lists the endpoints from <see cref="Endpoints"/>.</summary>
    public const string ConfigMethod = "config";

    /// <summary>
    /// Discovery method: <c>config</c> (the endpoints are <see cref="Endpoints"/>), or the name of a discovery plugin the
    /// embedding host registers itself (e.g. <c>kubernetes-api</c> with Akka.Discovery.KubernetesApi). Empty: discovery is off.
    /// </summary>
    public string? Method { get; set; }

    /// <summary>Name of the service the discovery method looks up; the same on every node of one cluster.</summary>
    public string? ServiceName { get; set; }

    /// <summary>With <c>config</c>: the <c>host:port</c> of every node's management endpoint (<see cref="ManagementPort"/>).</summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>How many nodes must answer before the lowest of them forms a new cluster (an existing cluster is joined at once).</summary>
    public int RequiredContactPoints { get; set; } = 2;

    /// <summary>Address the management HTTP endpoint binds to and advertises; this node's <see cref="ClusterOptions.Hostname"/> when empty.</summary>
    public string? ManagementHostname { get; set; }

    /// <summary>Port of the management HTTP endpoint (Akka.Management's default is 8558).</summary>
    public int ManagementPort { get; set; } = 8558;

    /// <summary>True when <see cref="Method"/> is set.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Method);

    /// <summary>True when the method is <c>config</c>, whose endpoints come from <see cref="Endpoints"/>.</summary>
    public bool UsesConfigEndpoints => string.Equals(Method?.Trim(), ConfigMethod, StringComparison.OrdinalIgnoreCase);

    /// <summary>The management hostname in effect for a node whose remoting hostname is <paramref name="clusterHostname"/>.</summary>
    public string EffectiveManagementHostname(string clusterHostname) =>
        string.IsNullOrWhiteSpace(ManagementHostname) ? clusterHostname : ManagementHostname.Trim();

    /// <summary>Returns the problems with these options, each naming its key; empty when valid or off.</summary>
    public IReadOnlyList<string> Validate()
    {
        if (!Enabled) return [];
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(ServiceName)) errors.Add($"{Section}:ServiceName is required with {Section}:Method (the same name on every node).");
        if (RequiredContactPoints < 1) errors.Add($"{Section}:RequiredContactPoints must be at least 1.");
        if (ManagementPort is < 1 or > 65535) errors.Add($"{Section}:ManagementPort must be between 1 and 65535 (every node's endpoint is listed by its port).");
        if (ManagementHostname is { } host && (host.Trim() is "0.0.0.0" or "::" or "*" or "+"))
            errors.Add($"{Section}:ManagementHostname '{host}' binds every interface: give this node's own address (docs/security.md).");
        if (UsesConfigEndpoints)
        {
            if (Endpoints.Count == 0) errors.Add($"{Section}:Endpoints is required with {Section}:Method '{ConfigMethod}' (host:port of each node's management endpoint).");
            for (var i = 0; i < Endpoints.Count; i++)
            {
                if (!IsHostPort(Endpoints[i]))
                    errors.Add($"{Section}:Endpoints:{i.ToString(CultureInfo.InvariantCulture)} '{Endpoints[i]}' is not host:port.");
            }
        }
        else if (Endpoints.Count > 0)
        {
            errors.Add($"{Section}:Endpoints is read only with {Section}:Method '{ConfigMethod}' (Method is '{Method}').");
        }
        return errors;
    }

    private static bool IsHostPort(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        return colon > 0 && colon < endpoint.Length - 1
               && !endpoint.Contains("://", StringComparison.Ordinal)
               && !string.IsNullOrWhiteSpace(endpoint[..colon])
               && int.TryParse(endpoint[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535;
    }
}
