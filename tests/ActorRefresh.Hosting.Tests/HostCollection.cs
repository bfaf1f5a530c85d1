namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// Tests that start real hosts run one at a time: several of them measure wall-clock behaviour (delays, backoff
/// times) that parallel hosts on a small machine would disturb.
/// </summary>
[CollectionDefinition(Name)]
public sealed class HostCollection
{
    public const string Name = "real hosts";
}
