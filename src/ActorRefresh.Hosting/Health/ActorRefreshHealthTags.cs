namespace ActorRefresh.Hosting;

/// <summary>
/// Tags of the engine's ASP.NET Core health checks, for a host that maps its own probes
/// (<c>HealthCheckService.CheckHealthAsync(r =&gt; r.Tags.Contains(ActorRefreshHealthTags.Ready))</c>).
/// </summary>
public static class ActorRefreshHealthTags
{
    /// <summary>Liveness: the actor system runs. A failure means the process should be restarted.</summary>
    public const string Live = "live";

    /// <summary>Readiness: the engine answers, its journal and snapshot store report healthy, and in cluster mode the node is an Up member.</summary>
    public const string Ready = "ready";
}
