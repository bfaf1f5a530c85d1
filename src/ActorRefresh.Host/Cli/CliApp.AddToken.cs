using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace ActorRefresh.Host.Cli;

/// <summary><c>add-token</c>: registers a long-lived access token (<c>claude setup-token</c>), read from standard input.</summary>
internal sealed partial class CliApp
{
    private Command AddTokenCommand()
    {
        var id = new Option<string>("--id") { Description = "Account id to register.", Required = true };
        var provider = new Option<string>("--provider") { Description = "Provider profile.", DefaultValueFactory = _ => "claude" };
        var expiresAt = new Option<string?>("--expires-at") { Description = "When the token expires (ISO 8601, e.g. 2027-12-01T00:00:00Z)." };
        var validDays = new Option<int?>("--valid-days") { Description = "Or: the token expires this many days from now (claude setup-token: 365)." };
        var command = ClientCommand("add-token",
            "Registers a long-lived access token without a refresh token (claude setup-token), read from standard input, never from the "
            + "command line: it is served until it expires and never refreshed.");
        command.Options.Add(id);
        command.Options.Add(provider);
        command.Options.Add(expiresAt);
        command.Options.Add(validDays);
        SetClientAction(command, async (client, parse, json, ct) =>
        {
            var account = RequireId(parse.GetValue(id)!);
            var expiry = ExpiryOf(parse.GetValue(expiresAt), parse.GetValue(validDays));
            // Standard input, so the token is in no shell history and no process list.
            var token = (await _input.ReadToEndAsync(ct).ConfigureAwait(false)).Trim();
            if (token.Length == 0)
                throw new CliException("no token on standard input (e.g. claude setup-token | actor-refresh add-token --id ID --valid-days 365)");
            if (token.Any(char.IsWhiteSpace))
                throw new CliException("standard input holds more than one word; pass the token alone");
            var body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["id"] = account,
                ["provider"] = parse.GetValue(provider)!,
                ["accessToken"] = token,
                ["expiresAt"] = expiry,
            });
            WriteStatus(await client.PostAsync("v1/accounts", body, ct).ConfigureAwait(false), json);
        });
        return command;
    }

    private static DateTimeOffset ExpiryOf(string? expiresAt, int? validDays)
    {
        if ((expiresAt is null) == (validDays is null))
            throw new CliException("give one of --expires-at and --valid-days");
        if (validDays is { } days)
            return days is > 0 and <= 3650
                ? DateTimeOffset.UtcNow.AddDays(days)
                : throw new CliException("--valid-days must be between 1 and 3650");
        return DateTimeOffset.TryParse(expiresAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at
            : throw new CliException($"--expires-at '{expiresAt}' is not a date and time (ISO 8601, e.g. 2027-12-01T00:00:00Z)");
    }
}
