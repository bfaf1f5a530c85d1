using System.Diagnostics;
using ActorRefresh.Engine.Observability;

namespace ActorRefresh.Host.Api;

/// <summary>
/// The <c>actorrefresh.login</c> span of one login's end (internal kind, on the engine's activity source): a browser
/// login's code exchange and registration, from the pasted code to the answer; a device login's authorization and
/// polling, from the device authorization request to the approval, denial or expiry. Tags: account, provider, flow and
/// outcome, nothing else, so no code, verifier, state, device code or token can be in them. Unlike the engine's spans,
/// recorded after the fact from the actor's clock, this one is live, so it keeps the activity's own (wall) clock.
/// </summary>
internal sealed class LoginSpan : IDisposable
{
    public const string Name = "actorrefresh.login";

    /// <summary>The flows, as <see cref="ActorRefreshDiagnostics.LoginFlowTag"/> names them.</summary>
    public const string Paste = "paste", Loopback = "loopback", Device = "device";

    /// <summary>The outcome of a login that gave the account its tokens; every other outcome is an error.</summary>
    public const string LoggedIn = "logged_in";

    private static readonly ActivitySource Source = new(ActorRefreshDiagnostics.ActivitySourceName);
    private readonly Activity? _activity;
    private int _ended;

    private LoginSpan(Activity? activity) => _activity = activity;

    /// <summary>Starts the span as a child of the current activity (the HTTP request's) and makes it current.</summary>
    public static LoginSpan Start(string account, string provider, string flow)
    {
        var activity = Source.StartActivity(Name, ActivityKind.Internal);
        activity?.SetTag(ActorRefreshDiagnostics.AccountTag, account);
        activity?.SetTag(ActorRefreshDiagnostics.ProviderTag, provider);
        activity?.SetTag(ActorRefreshDiagnostics.LoginFlowTag, flow);
        return new LoginSpan(activity);
    }

    /// <summary>Ends the span with <paramref name="outcome"/>; only the first call counts.</summary>
    public void End(string outcome)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1 || _activity is null) return;
        _activity.SetTag(ActorRefreshDiagnostics.OutcomeTag, outcome);
        var ok = outcome == LoggedIn;
        _activity.SetStatus(ok ? ActivityStatusCode.Ok : ActivityStatusCode.Error, ok ? null : outcome);
        _activity.Dispose();
    }

    /// <summary>A span left without an outcome ended by an exception (the registration failed, say).</summary>
    public void Dispose() => End("error");
}
