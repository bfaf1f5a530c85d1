using System.CommandLine;
using System.Text.Json;
using ActorRefresh.Engine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ActorRefresh.Host.Cli;

/// <summary>
/// <c>actor-refresh storage-keys</c>: reads the store with the settings <c>serve</c> would use (same configuration
/// sources, <c>--config</c>, <c>--set</c>) and counts its rows per encryption key id, so an operator sees when a
/// previous key holds nothing more and can be removed. Reads only; the server may be running.
/// </summary>
internal static class StorageKeysCommand
{
    /// <summary>Exit code when rows are under a key id that is not configured (serve would refuse to start) or the store cannot be read.</summary>
    public const int NotClean = 1;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = new Option<string?>("--config") { Description = "The JSON configuration file serve is given, if any." };
        var set = new Option<string[]>("--set") { Description = "A setting as Key=Value, as for serve; repeatable.", HelpName = "Key=Value" };
        var json = new Option<bool>("--json") { Description = "Print the report as one JSON object." };
        var command = new Command("storage-keys",
            "Counts the stored journal and snapshot rows under each token encryption key id (current, previous, not configured), " +
            "to tell when a previous key (ActorRefresh:Storage:PreviousEncryptionKeys) can be removed.")
        {
            config, set, json,
        };
        command.SetAction(parse =>
        {
            int Fail(string message, int code)
            {
                error.WriteLine("actor-refresh: " + message.ReplaceLineEndings(" "));
                return code;
            }
            var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            var settings = parse.GetValue(set) ?? [];
            for (var i = 0; i < settings.Length; i++)
            {
                if (!HostConfiguration.TryParseSetting(settings[i], out var setting))
                    return Fail($"--set expects Key=Value; --set number {i + 1} has no key or no '='.", 2);
                overrides[setting.Key] = setting.Value;
            }
            StorageOptions storage;
            StorageKeyReport report;
            try
            {
                var configuration = new ConfigurationManager();
                var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? "Production";
                HostConfiguration.Apply(configuration, environment, parse.GetValue(config), overrides);
                storage = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
                StorageKeyRing.AddListValues(storage, configuration);
                if (storage.Validate() is [_, ..] problems)
                {
                    foreach (var problem in problems) Fail(problem, 2);
                    return 2;
                }
                report = StorageKeyReport.Read(storage);
            }
            catch (OptionsValidationException e)
            {
                foreach (var failure in e.Failures) Fail(failure, 2);
                return 2;
            }
            catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or InvalidDataException)
            {
                return Fail(e.Message, 2);
            }
            catch (System.Data.Common.DbException e)
            {
                return Fail($"cannot read the store: {e.Message}", NotClean);
            }

            var rows = Rows(report);
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    store = report.Store,
                    current = report.Current,
                    previous = report.Previous,
                    keys = rows.Select(r => new { keyId = r.KeyId, role = r.Role, rows = r.Count }),
                    removable = rows.Where(r => r.Role == "previous" && r.Count == 0).Select(r => r.KeyId),
                }, new JsonSerializerOptions { WriteIndented = false }));
            }
            else
            {
                output.WriteLine($"Store: {report.Store ?? "none yet"}");
                output.WriteLine($"{"KEY ID",-10} {"ROLE",-16} ROWS");
                foreach (var row in rows) output.WriteLine($"{row.KeyId,-10} {row.Role,-16} {row.Count}");
                foreach (var row in rows.Where(r => r.Role == "previous"))
                    output.WriteLine(row.Count == 0
                        ? $"Previous key {row.KeyId} holds no rows: it can be removed from the configuration."
                        : $"Previous key {row.KeyId} still holds {row.Count} rows: keep it until each account has started once with the new key (its history is then rewritten).");
            }
            return rows.Any(r => r.Role == "not configured" && r.Count > 0) ? NotClean : 0;
        });
        return command;
    }

    private static List<(string KeyId, string Role, long Count)> Rows(StorageKeyReport report)
    {
        var rows = new List<(string KeyId, string Role, long Count)>();
        if (report.Current is { } current) rows.Add((current, "current", report.Rows.GetValueOrDefault(current)));
        rows.AddRange(report.Previous.Select(id => (id, "previous", report.Rows.GetValueOrDefault(id))));
        foreach (var (id, count) in report.Rows.OrderByDescending(r => r.Value))
        {
            if (rows.Any(r => r.KeyId == id)) continue;
            rows.Add((id, id == StorageKeyReport.NoKeyId ? "v1 (no key id)" : "not configured", count));
        }
        return rows;
    }
}
