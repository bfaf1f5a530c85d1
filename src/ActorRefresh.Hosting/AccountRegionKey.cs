namespace ActorRefresh.Hosting;

/// <summary>Key of the account region in Akka.Hosting's registry (<c>IRequiredActor&lt;AccountRegionKey&gt;</c>).</summary>
internal sealed class AccountRegionKey;
