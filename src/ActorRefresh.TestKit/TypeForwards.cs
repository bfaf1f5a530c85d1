using System.Runtime.CompilerServices;
using ActorRefresh.TestKit;

// The fake server moved to ActorRefresh.FakeProvider (same namespace); code compiled against an older TestKit still
// finds its types here.
[assembly: TypeForwardedTo(typeof(FakeTokenServer))]
[assembly: TypeForwardedTo(typeof(FakeTokenServerOptions))]
[assembly: TypeForwardedTo(typeof(FakeFault))]
[assembly: TypeForwardedTo(typeof(FakeUsageFault))]
[assembly: TypeForwardedTo(typeof(FakeAccountTokens))]
[assembly: TypeForwardedTo(typeof(FakeAccountCounters))]
