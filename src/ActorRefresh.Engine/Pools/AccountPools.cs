using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;

namespace ActorRefresh.Engine.Pools;

/// <summary>Settings of one pool, bound from <c>ActorRefresh:Pools:&lt;name&gt;</c>.</summary>
public sealed class PoolOptions
{
    /// <summary>Member account ids in priority order.</summary>
    public List<string> Accounts { get; set; } = [];

    /// <summary><c>priority</c> (default), <c>round-robin</c> or <c>least-utilised</c>.</summary>
    public string Strategy { get; set; } = "priority";

    /// <summary>Accounts at or above this utilisation (0–100) are not leased. Default 90.</summary>
    public double MaxUtilisation { get; set; } = PoolDefinition.DefaultMaxUtilisation;
}

/// <summary>
/// The pools of this node: those of configuration (<c>ActorRefresh:Pools</c>), plus those defined, replaced or removed
/// at run time. Run-time changes are kept in memory: a restart starts again from configuration (persist a pool by
/// adding it there). Thread-safe; reads are lock-free.
/// </summary>
public sealed class AccountPools
{
    /// <summary>Configuration section of the pools.</summary>
    public const string Section = "ActorRefresh:Pools";

    private readonly ConcurrentDictionary<string, Entry> _pools = new(StringComparer.Ordinal);

    /// <summary>Creates the registry with <paramref name="pools"/>.</summary>
    /// <exception cref="ArgumentException">A definition is invalid (the message names the key).</exception>
    public AccountPools(IEnumerable<PoolDefinition>? pools = null)
    {
        foreach (var pool in pools ?? []) Define(pool);
    }

    /// <summary>Reads the pool definitions under <c>ActorRefresh:Pools</c>; invalid entries are reported in <paramref name="errors"/>.</summary>
    public static IReadOnlyList<PoolDefinition> Load(IConfiguration configuration, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var pools = new List<PoolDefinition>();
        var problems = new List<string>();
        foreach (var child in configuration.GetSection(Section).GetChildren())
        {
            var options = new PoolOptions();
            child.Bind(options);
            if (!PoolStrategies.TryParse(options.Strategy, out var strategy))
            {
                problems.Add($"{Section}:{child.Key}:Strategy '{options.Strategy}' is not one of priority, round-robin, least-utilised.");
                continue;
            }
            var definition = new PoolDefinition(child.Key, options.Accounts.Select(a => a.Trim()).ToList(), strategy, options.MaxUtilisation);
            var invalid = definition.Validate();
            if (invalid.Count > 0) problems.AddRange(invalid);
            else pools.Add(definition);
        }
        errors = problems;
        return pools;
    }

    /// <summary>Adds a pool or replaces the one with the same name.</summary>
    /// <returns>The stored definition (its member list is copied).</returns>
    /// <exception cref="ArgumentException">The definition is invalid.</exception>
    public PoolDefinition Define(PoolDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var errors = definition.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(definition));
        var stored = definition with { Accounts = definition.Accounts.ToArray() };
        _pools[stored.Name] = new Entry(stored);
        return stored;
    }

    /// <summary>Removes a pool; false when there was none.</summary>
    public bool Remove(string name) => _pools.TryRemove(name, out _);

    /// <summary>The pool named <paramref name="name"/>, if defined.</summary>
    public bool TryGet(string name, out PoolDefinition definition)
    {
        if (name is not null && _pools.TryGetValue(name, out var entry))
        {
            definition = entry.Definition;
            return true;
        }
        definition = null!;
        return false;
    }

    /// <summary>Every pool, ordered by name.</summary>
    public IReadOnlyList<PoolDefinition> List() => _pools.Values.Select(e => e.Definition).OrderBy(d => d.Name, StringComparer.Ordinal).ToList();

    /// <summary>The round-robin turn of the pool (a counter per definition).</summary>
    internal bool TryGetEntry(string name, out Entry entry) => _pools.TryGetValue(name, out entry!);

    internal sealed class Entry(PoolDefinition definition)
    {
        private int _turn = -1;

        public PoolDefinition Definition { get; } = definition;

        public int NextTurn() => Interlocked.Increment(ref _turn) & int.MaxValue;
    }
}
