namespace ActorRefresh.Engine.Clustering;

/// <summary>Which set of cluster timings to run with.</summary>
public enum ClusterTimings
{
    /// <summary>For gateways of 3-10 nodes: a 3 s pause tolerated, failover after a hard crash in about 17 s (hocon.conf, docs/design.md).</summary>
    Production,
    /// <summary>Fast failure detection and sharding retries for tests on one machine: failover in a few seconds.</summary>
    Test,
}

/// <summary>Cluster mode, bound from configuration section <c>ActorRefresh:Cluster</c>.</summary>
public sealed class ClusterOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string Section = "ActorRefresh:Cluster";

    /// <summary>Name of the actor system; every node of one cluster must use the same.</summary>
    public const string SystemName = "actor-refresh";

    /// <summary>Runs the node as a member of an Akka cluster with sharded accounts (off: standalone).</summary>
    public bool Enabled { get; set; }

    /// <summary>Host name or address this node's remoting binds to and advertises.</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>Remoting port of this node (0 picks a free one, only useful for a node that is no seed).</summary>
    public int Port { get; set; } = 4053;

    /// <summary>
    /// Seed node addresses, <c>host:port</c> or full <c>akka.tcp://actor-refresh@host:port</c> (this node's own for a
    /// one-node cluster). Exactly one of this and <see cref="Discovery"/> is set.
    /// </summary>
    public List<string> SeedNodes { get; set; } = [];

    /// <summary>Seed nodes from discovery (Akka.Management's cluster bootstrap) instead of <see cref="SeedNodes"/>.</summary>
    public ClusterDiscoveryOptions Discovery { get; set; } = new();

    /// <summary>Cluster roles of this node (informational; every node hosts accounts).</summary>
    public List<string> Roles { get; set; } = [];

    /// <summary>Number of shards the accounts are spread over. Fixed for the life of the cluster's data: never change it.</summary>
    public int ShardCount { get; set; } = 100;

    /// <summary>Failure detection and sharding timings.</summary>
    public ClusterTimings Timings { get; set; } = ClusterTimings.Production;

    /// <summary>
    /// Longest a refresh waits for every node to confirm it dropped the account's token from its read side before the
    /// upstream call goes ahead anyway. Defaults to the failure detector's pause for the chosen timings (a node that has
    /// not confirmed by then is, or is about to be, unreachable, and unreachable nodes drop the tokens they got from it).
    /// </summary>
    public TimeSpan? WithdrawTimeout { get; set; }

    /// <summary>TLS with mutual certificate checks for the remoting between nodes; required unless <see cref="Hostname"/> is loopback.</summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>Akka's address protocol of this cluster: <c>akka.ssl.tcp</c> with TLS, <c>akka.tcp</c> without.</summary>
    public string Protocol => Tls.Configured ? "akka.ssl.tcp" : "akka.tcp";

    /// <summary>True when <see cref="Hostname"/> is <c>localhost</c> or a loopback address: remoting never leaves the machine.</summary>
    public bool IsLoopback =>
        string.Equals(Hostname, "localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(Hostname, out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <summary>The withdraw timeout in effect.</summary>
    public TimeSpan EffectiveWithdrawTimeout =>
        WithdrawTimeout ?? (Timings == ClusterTimings.Test ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(3));

    /// <summary>The seed nodes as full Akka addresses (empty with <see cref="Discovery"/>: the bootstrap finds them).</summary>
    public IReadOnlyList<string> SeedAddresses =>
        SeedNodes.Select(s => s.Contains("://", StringComparison.Ordinal) ? s : $"{Protocol}://{SystemName}@{s}").ToList();

    /// <summary>Returns the problems with these options, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Enabled) return errors;
        if (string.IsNullOrWhiteSpace(Hostname)) errors.Add($"{Section}:Hostname must not be empty.");
        if (Port is < 0 or > 65535) errors.Add($"{Section}:Port must be between 0 and 65535.");
        if (ShardCount < 1) errors.Add($"{Section}:ShardCount must be at least 1 (and never change once accounts exist).");
        // One source of seed nodes: with both, Akka's bootstrap skips discovery; with neither, the node never joins.
        if (SeedNodes.Count > 0 && Discovery.Enabled)
            errors.Add($"{Section}:SeedNodes and {ClusterDiscoveryOptions.Section}:Method are both set: give exactly one (a static seed list, or discovery).");
        else if (SeedNodes.Count == 0 && !Discovery.Enabled)
            errors.Add($"{Section}:SeedNodes (--seed-nodes; this node's own host:port for a one-node cluster) or {ClusterDiscoveryOptions.Section}:Method is required: give exactly one.");
        errors.AddRange(Discovery.Validate());
        foreach (var seed in SeedNodes)
        {
            var address = seed.Contains("://", StringComparison.Ordinal) ? seed : $"{Protocol}://{SystemName}@{seed}";
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Port <= 0 || !address.StartsWith($"{Protocol}://{SystemName}@", StringComparison.Ordinal))
                errors.Add($"{Section}:SeedNodes entry '{seed}' is not host:port or {Protocol}://{SystemName}@host:port.");
        }
        if (WithdrawTimeout is { } t && t <= TimeSpan.Zero) errors.Add($"{Section}:WithdrawTimeout must be positive.");
        // Plain remoting carries tokens and journal commands in clear and lets anyone who can reach the port join.
        if (!IsLoopback && !Tls.Configured)
            errors.Add($"{Section}:Hostname '{Hostname}' is not loopback: cluster remoting off this machine needs TLS; set {ClusterTlsOptions.Section}:CertificatePath (with {ClusterTlsOptions.Section}:CertificatePassword or {ClusterTlsOptions.Section}:KeyPath) and {ClusterTlsOptions.Section}:CaPath (docs/security.md).");
        errors.AddRange(Tls.Validate());
        return errors;
    }
}
