namespace ActorRefresh.Engine.Observability;

/// <summary>
/// Names under which the engine publishes its telemetry, for a host's OpenTelemetry set-up:
/// <c>.WithMetrics(m =&gt; m.AddMeter(ActorRefreshDiagnostics.MeterName))</c> and
/// <c>.WithTracing(t =&gt; t.AddSource(ActorRefreshDiagnostics.ActivitySourceName))</c>.
/// Spans and instruments carry account ids, provider names and outcome kinds, never a token.
/// </summary>
public static class ActorRefreshDiagnostics
{
    /// <summary>The meter every ActorRefresh instrument lives on.</summary>
    public const string MeterName = "ActorRefresh";

    /// <summary>
    /// The activity source of the engine's spans: <c>actorrefresh.refresh</c> (one token endpoint call, client kind),
    /// <c>actorrefresh.usage_check</c> (one usage endpoint call) and <c>actorrefresh.lease</c> (one pool lease, internal
    /// kind, a child of the caller's activity, tagged with the pool, the leased account and the result). A refresh or
    /// usage span covers the upstream call only; a call that was not sent has no span. The broker (<c>actor-refresh
    /// serve</c>) adds <c>actorrefresh.login</c>: one internal span per login's end, tagged with the account, the provider,
    /// the flow (<see cref="LoginFlowTag"/>) and the outcome (<c>logged_in</c>, or why not, with error status); never a
    /// code, verifier, state, device code or token.
    /// </summary>
    public const string ActivitySourceName = "ActorRefresh";

    /// <summary>Span tag: the account id.</summary>
    public const string AccountTag = "actorrefresh.account";

    /// <summary>Span tag: the provider profile name.</summary>
    public const string ProviderTag = "actorrefresh.provider";

    /// <summary>Span tag: the pool name (lease spans).</summary>
    public const string PoolTag = "actorrefresh.pool";

    /// <summary>Span tag: how a login reached the broker (login spans): <c>paste</c>, <c>loopback</c> or <c>device</c>.</summary>
    public const string LoginFlowTag = "actorrefresh.login.flow";

    /// <summary>Span tag: the outcome kind (as on the <c>actorrefresh_refreshes</c> counter).</summary>
    public const string OutcomeTag = "actorrefresh.outcome";
}
