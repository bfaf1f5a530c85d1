using ActorRefresh.Core.Backoff;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine;
using ActorRefresh.Engine.Region;
using ActorRefresh.Hosting.Tokens;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Hosting.Tests;

/// <summary>
/// A directory that answers "unavailable" (its region is restarting after a store failure: the supervisor's reply while
/// stopped, or the dead-letter responder) reaches callers as <see cref="EngineUnavailableException"/>, which the broker
/// answers 503, never as an unmapped failure (a 500).
/// </summary>
public sealed class DirectoryUnavailableTests : Akka.TestKit.Xunit2.TestKit
{
    private IAccountAdmin AdminWithUnavailableDirectory()
    {
        var configuration = new ConfigurationBuilder().Build();
        var provider = new ServiceCollection().AddLogging().AddSingleton(TimeProvider.System).AddActorRefreshCore(configuration).BuildServiceProvider();
        var services = new EngineServices(provider.GetRequiredService<IProviderRegistry>(), provider.GetRequiredService<ITokenEndpointClient>(),
            new BackoffOptions(), new EngineOptions { AskTimeout = TimeSpan.FromSeconds(5) }, TimeProvider.System);
        var unavailable = Sys.ActorOf(Props.Create(() => new AnswersUnavailable()));
        return new TokenProvider(new Fixed<AccountRegionKey>(unavailable), new Fixed<AccountDirectoryKey>(unavailable), services,
            new ActorRefresh.Engine.Pools.AccountPools());
    }

    [Fact]
    public async Task Counting_accounts_while_the_directory_is_unavailable_is_engine_unavailable()
    {
        var tokens = AdminWithUnavailableDirectory();

        var error = await Assert.ThrowsAsync<EngineUnavailableException>(() => tokens.CountAccountsAsync("late"));

        Assert.Contains("unavailable", error.Message, StringComparison.Ordinal);
    }

    private sealed class AnswersUnavailable : ReceiveActor
    {
        public AnswersUnavailable() => ReceiveAny(_ => Sender.Tell(new Status.Failure(new AccountUnavailableException("*"))));
    }

    private sealed class Fixed<TKey>(IActorRef actor) : IRequiredActor<TKey>
    {
        public IActorRef ActorRef => actor;
        public Task<IActorRef> GetAsync(CancellationToken cancellationToken = default) => Task.FromResult(actor);
    }
}
