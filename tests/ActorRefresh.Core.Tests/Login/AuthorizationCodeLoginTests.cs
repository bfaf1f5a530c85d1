using System.Text.RegularExpressions;
using System.Web;
using ActorRefresh.Core.Login;
using ActorRefresh.Core.Providers;
using ActorRefresh.Core.Tests.Infrastructure;
using ActorRefresh.Core.Tokens;
using ActorRefresh.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace ActorRefresh.Core.Tests.Login;

/// <summary>
/// Claude's paste-back login over real HTTP against <see cref="FakeTokenServer"/>, which checks PKCE, state, redirect
/// and single use strictly; the test plays the user's browser.
/// </summary>
public sealed partial class AuthorizationCodeLoginTests : IAsyncLifetime
{
    private FakeTokenServer _server = null!;
    private readonly CoreServices _core = new(TimeProvider.System);

    public async Task InitializeAsync() => _server = await FakeTokenServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _core.Dispose();
    }

    private ProviderProfile Claude()
    {
        var profile = BuiltInProviders.Claude;
        profile.TokenEndpoint = _server.TokenEndpoint;
        profile.AuthorizeEndpoint = _server.AuthorizeEndpoint;
        return profile;
    }

    private CodeExchangeClient Exchange => _core.Provider.GetRequiredService<CodeExchangeClient>();

    /// <summary>Opens the authorize URL as the user's browser would and returns what the page shows to paste back.</summary>
    private static async Task<string> PastedCodeAsync(Uri authorizeUrl)
    {
        using var browser = new HttpClient();
        var page = await browser.GetStringAsync(authorizeUrl);
        return CodePattern().Match(page).Groups[1].Value;
    }

    [GeneratedRegex("<code id=\"code\">([^<]+)</code>")]
    private static partial Regex CodePattern();

    [Fact]
    public async Task The_pasted_code_and_state_are_exchanged_for_the_first_token_pair()
    {
        _server.LogInAs("new-user");
        var profile = Claude();
        var start = AuthorizationCodeLogin.Start(profile);
        var query = HttpUtility.ParseQueryString(start.AuthorizeUrl.Query);
        Assert.Equal("S256", query["code_challenge_method"]);
        Assert.Equal(start.State, query["state"]);
        Assert.DoesNotContain(start.Verifier.Reveal(), start.AuthorizeUrl.ToString(), StringComparison.Ordinal);

        var pasted = await PastedCodeAsync(start.AuthorizeUrl);
        Assert.True(AuthorizationCodeLogin.TryParsePasted(pasted, out var code, out var state));
        Assert.Equal(start.State, state);

        var outcome = Assert.IsType<RefreshOutcome.Refreshed>(await Exchange.ExchangeAsync(profile, code, state!, start.Verifier, CancellationToken.None));
        Assert.Equal(_server.Current("new-user").AccessToken, outcome.AccessToken.Reveal());
        Assert.Equal(_server.Current("new-user").RefreshToken, outcome.RefreshToken!.Reveal());
        Assert.Equal(1, _server.CodeExchanges);
    }

    [Fact]
    public async Task A_code_is_single_use_and_a_wrong_verifier_or_state_is_refused()
    {
        _server.LogInAs("strict-user");
        var profile = Claude();

        var start = AuthorizationCodeLogin.Start(profile);
        AuthorizationCodeLogin.TryParsePasted(await PastedCodeAsync(start.AuthorizeUrl), out var code, out var state);
        var other = AuthorizationCodeLogin.Start(profile);
        var wrongVerifier = await Exchange.ExchangeAsync(profile, code, state!, other.Verifier, CancellationToken.None);
        Assert.Equal("invalid_grant", Assert.IsType<RefreshOutcome.GrantRejected>(wrongVerifier).Error);
        // The failed exchange used the code up.
        var again = await Exchange.ExchangeAsync(profile, code, state!, start.Verifier, CancellationToken.None);
        Assert.Contains("expired or been used", Assert.IsType<RefreshOutcome.GrantRejected>(again).Description, StringComparison.Ordinal);

        var second = AuthorizationCodeLogin.Start(profile);
        AuthorizationCodeLogin.TryParsePasted(await PastedCodeAsync(second.AuthorizeUrl), out var code2, out _);
        var wrongState = await Exchange.ExchangeAsync(profile, code2, "not-the-state", second.Verifier, CancellationToken.None);
        Assert.Equal("invalid_grant", Assert.IsType<RefreshOutcome.GrantRejected>(wrongState).Error);
        Assert.Equal(0, _server.CodeExchanges);
    }

    [Theory]
    [InlineData("abc#xyz", "abc", "xyz")]
    [InlineData("  abc#xyz \n", "abc", "xyz")]
    [InlineData("https://console.anthropic.com/oauth/code/callback?code=abc&state=xyz", "abc", "xyz")]
    [InlineData("abc", "abc", null)]
    public void Pasted_text_gives_the_code_and_state(string pasted, string code, string? state)
    {
        Assert.True(AuthorizationCodeLogin.TryParsePasted(pasted, out var parsedCode, out var parsedState));
        Assert.Equal(code, parsedCode);
        Assert.Equal(state, parsedState);
    }

    [Theory]
    [InlineData("")]
    [InlineData("two words#x")]
    [InlineData("https://example.com/callback?state=xyz")]
    public void Pasted_text_without_a_code_is_refused(string pasted) =>
        Assert.False(AuthorizationCodeLogin.TryParsePasted(pasted, out _, out _));
}
