using ActorRefresh.Core.Credentials;
using ActorRefresh.Engine.Accounts;
using Microsoft.Extensions.Configuration;

namespace ActorRefresh.Hosting.Materialize;

/// <summary>One file kept up to date with an account's current access token.</summary>
/// <param name="AccountId">The account.</param>
/// <param name="Path">The file (absolute).</param>
/// <param name="Format">How the token is written.</param>
/// <param name="Variable">The variable name of the <see cref="AccessTokenFileFormat.Env"/> format.</param>
internal sealed record MaterializedFileTarget(string AccountId, string Path, AccessTokenFileFormat Format, string Variable);

/// <summary>
/// The files under <c>ActorRefresh:Accounts:&lt;id&gt;:Materialize:&lt;n&gt;</c> (<c>Path</c>, <c>Format</c>,
/// <c>Variable</c>): access-only copies of an account's token for sandboxes and CLIs that must not hold the refresh
/// token.
/// </summary>
internal static class MaterializedFileTargets
{
    public const string Section = "ActorRefresh:Accounts";

    /// <summary>Reads every target; each invalid entry is reported in <paramref name="errors"/> with its key.</summary>
    public static IReadOnlyList<MaterializedFileTarget> Load(IConfiguration configuration, out IReadOnlyList<string> errors)
    {
        var targets = new List<MaterializedFileTarget>();
        var problems = new List<string>();
        foreach (var account in configuration.GetSection(Section).GetChildren())
        {
            if (!AccountIdRules.IsValid(account.Key))
            {
                problems.Add($"{Section}:{account.Key}: {AccountIdRules.Description}.");
                continue;
            }
            foreach (var entry in account.GetSection("Materialize").GetChildren())
            {
                var key = $"{Section}:{account.Key}:Materialize:{entry.Key}";
                var path = entry["Path"];
                if (string.IsNullOrWhiteSpace(path) || !System.IO.Path.IsPathFullyQualified(path))
                {
                    problems.Add($"{key}:Path must be an absolute file path (got '{path}').");
                    continue;
                }
                var formatText = entry["Format"] ?? "claude";
                if (!AccessTokenFile.TryParseFormat(formatText, out var format))
                {
                    problems.Add($"{key}:Format '{formatText}' is not one of claude, token, env.");
                    continue;
                }
                var variable = entry["Variable"] ?? AccessTokenFile.DefaultVariable;
                if (!AccessTokenFile.IsVariableName(variable))
                {
                    problems.Add($"{key}:Variable '{variable}' is not a variable name (letters, digits, '_', not starting with a digit).");
                    continue;
                }
                if (targets.Any(t => string.Equals(t.Path, path, StringComparison.Ordinal)))
                {
                    problems.Add($"{key}:Path '{path}' is materialized twice; one file holds one account's token.");
                    continue;
                }
                targets.Add(new MaterializedFileTarget(account.Key, path, format, variable));
            }
        }
        errors = problems;
        return targets;
    }

}
