namespace ActorRefresh.Hosting;

/// <summary>
/// Key of the account directory in Akka.Hosting's registry: the actor that registers, removes and lists accounts.
/// Standalone it is the account region itself; in cluster mode a proxy of the cluster-wide directory singleton.
/// </summary>
internal sealed class AccountDirectoryKey;
