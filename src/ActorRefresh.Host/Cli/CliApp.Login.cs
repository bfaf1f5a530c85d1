using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Web;
using ActorRefresh.Core.Login;
using ActorRefresh.Host.Api;

namespace ActorRefresh.Host.Cli;

/// <summary>
/// <c>actor-refresh login</c>: the server starts the login and keeps its secrets (PKCE verifier, state, device code); the
/// CLI is the user's side. Three ways, by the provider's profile: Claude's paste-back of the code its page shows, a
/// loopback redirect to a one-shot listener of the CLI (RFC 8252), or with <c>--device</c> the device grant (RFC 8628).
/// </summary>
internal sealed partial class CliApp
{
    private static readonly TimeSpan DefaultLoginTimeout = TimeSpan.FromMinutes(5);

    private Command LoginCommand()
    {
        var provider = new Argument<string>("provider") { Description = "Provider profile to log in with (claude, or one configured with an AuthorizeEndpoint or DeviceAuthorizationEndpoint)." };
        var id = new Option<string>("--id") { Description = "Account id to register, or to give the new login (clears a dead-grant block).", Required = true };
        var code = new Option<string?>("--code") { Description = "Paste-back providers (claude): the code the login page shows (code#state); read from standard input when omitted." };
        var device = new Option<bool>("--device") { Description = "Log in with the device authorization grant: shows a user code to enter at the provider's URL, on any device." };
        var noBrowser = new Option<bool>("--no-browser") { Description = "Do not open a browser: only print the URL to open." };
        var port = new Option<int>("--port") { Description = "Loopback port to listen on for the redirect (0: any free port; a profile's loopback RedirectUri names its own)." };
        var timeout = new Option<TimeSpan>("--timeout") { Description = "How long to wait for the browser's redirect.", DefaultValueFactory = _ => DefaultLoginTimeout };
        var command = ClientCommand("login", "Logs an account in: opens (or prints) the provider's login page, or with --device shows a user code; the server exchanges the result.");
        command.Arguments.Add(provider);
        foreach (var option in (Option[])[id, code, device, noBrowser, port, timeout]) command.Options.Add(option);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var account = AccountPath(parse.GetValue(id)!);
            if (parse.GetValue(device))
            {
                await DeviceLoginAsync(client, account, parse.GetValue(provider)!, json, ct).ConfigureAwait(false);
                return;
            }
            var listener = LoopbackListener.Start(parse.GetValue(port));
            try
            {
                var started = Deserialize<LoginStartResponse>(await client.PostAsync(account + "/login",
                    JsonSerializer.Serialize(new { provider = parse.GetValue(provider), redirectUri = listener.RedirectUri.ToString() }, ApiJson.Options), ct).ConfigureAwait(false));
                var redirect = started.RedirectUri is { } r ? new Uri(r) : null;
                if (!LoopbackRedirect.IsLoopback(redirect))
                {
                    listener.Dispose();
                    await PasteBackAsync(client, started, parse.GetValue(code), json, ct).ConfigureAwait(false);
                    return;
                }
                if (redirect!.Port != listener.Port || redirect.AbsolutePath != LoopbackRedirect.DefaultPath)
                {
                    // The profile names its own registered port and path: listen there instead.
                    listener.Dispose();
                    listener = LoopbackListener.Start(redirect.Port, redirect.AbsolutePath);
                }
                await LoopbackLoginAsync(client, listener, started, !parse.GetValue(noBrowser), parse.GetValue(timeout), json, ct).ConfigureAwait(false);
            }
            finally
            {
                listener.Dispose();
            }
        });
        return command;
    }

    private async Task PasteBackAsync(ApiClient client, LoginStartResponse started, string? pasted, bool json, CancellationToken ct)
    {
        output.WriteLine("Open this URL in a browser, log in, and paste the code the page shows:");
        output.WriteLine(started.AuthorizeUrl);
        if (pasted is null)
        {
            output.Write("code: ");
            output.Flush();
            pasted = await _input.ReadLineAsync(ct).ConfigureAwait(false) ?? throw new CliException("no code was pasted");
        }
        var body = await client.PostAsync("v1/logins/" + Uri.EscapeDataString(started.LoginId),
            JsonSerializer.Serialize(new { code = pasted.Trim() }, ApiJson.Options), ct).ConfigureAwait(false);
        WriteStatus(body, json);
    }

    private async Task LoopbackLoginAsync(ApiClient client, LoopbackListener listener, LoginStartResponse started, bool openBrowser, TimeSpan timeout,
        bool json, CancellationToken ct)
    {
        var url = started.AuthorizeUrl ?? throw new CliException("the server answered no authorize URL");
        // The state is in the URL the user opens anyway; the listener takes only the redirect that carries it back.
        var state = HttpUtility.ParseQueryString(new Uri(url).Query)["state"] ?? throw new CliException("the authorize URL carries no state");
        output.WriteLine(openBrowser ? "Opening the login page in a browser; if none opens, open this URL:" : "Open this URL in a browser and log in:");
        output.WriteLine(url);
        output.Flush();
        if (openBrowser) TryOpenBrowser(url);

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(timeout);
        string callback;
        Func<bool, string, Task> answer;
        try
        {
            (callback, answer) = await listener.WaitAsync(state, wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException($"no login arrived at {listener.RedirectUri} within {timeout}; run 'actor-refresh login' again");
        }
        if (HttpUtility.ParseQueryString(new Uri(callback).Query)["error"] is { } refused)
        {
            await answer(false, $"The provider refused the login ({refused}). You can close this window.").ConfigureAwait(false);
            throw new CliException($"the provider refused the login ({refused})");
        }
        string body;
        try
        {
            body = await client.PostAsync("v1/logins/" + Uri.EscapeDataString(started.LoginId),
                JsonSerializer.Serialize(new { code = callback }, ApiJson.Options), ct).ConfigureAwait(false);
        }
        catch (CliException exception)
        {
            await answer(false, "The login failed: " + exception.Message).ConfigureAwait(false);
            throw;
        }
        await answer(true, "actor-refresh has the account's tokens. You can close this window.").ConfigureAwait(false);
        WriteStatus(body, json);
    }

    private async Task DeviceLoginAsync(ApiClient client, string account, string provider, bool json, CancellationToken ct)
    {
        var started = Deserialize<LoginStartResponse>(await client.PostAsync(account + "/login",
            JsonSerializer.Serialize(new { provider, device = true }, ApiJson.Options), ct).ConfigureAwait(false));
        output.WriteLine($"On any device, open {started.VerificationUri} and enter the code {started.UserCode}");
        if (started.VerificationUriComplete is { } complete)
            output.WriteLine($"(or open {complete})");
        output.WriteLine($"Waiting for the approval until {started.ExpiresAt:u}...");
        output.Flush();
        var path = "v1/logins/" + Uri.EscapeDataString(started.LoginId);
        while (true)
        {
            // The server polls the provider by the RFC's rules; each call waits up to 20 s for the end and answers 202 before it.
            var (status, body) = await client.PostForStatusAsync(path, "{}", ct).ConfigureAwait(false);
            if (status == 202) continue;
            WriteStatus(body, json);
            return;
        }
    }

    private void TryOpenBrowser(string url)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(url) { UseShellExecute = true });
        }
        catch (Exception exception) when (exception is System.ComponentModel.Win32Exception or InvalidOperationException or PlatformNotSupportedException)
        {
            error.WriteLine($"actor-refresh: could not open a browser ({exception.GetType().Name}); open the URL above yourself");
        }
    }
}
