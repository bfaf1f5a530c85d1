using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Tests.Accounts;

/// <summary>
/// The "Account states" table of docs/design.md, row by row, against the pure decision a token request gets
/// (<see cref="AccountData.DecideToken"/>). The rows are read from the document, so a row added there without a case
/// here (or a case whose row was dropped) fails. How the actor holds callers while refreshing is its own behaviour,
/// tested on virtual time in <c>AccountActorTests</c>; here the Refreshing row is the decision that leads into it.
/// </summary>
public sealed class AccountStateTableTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly EngineOptions Options = new();

    private static AccountData Registered(DateTimeOffset expiresAt) =>
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt-1"), new Secret("at-1"), expiresAt, null, T0));

    private static AccountData LongLived(DateTimeOffset expiresAt) =>
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", null, new Secret("at-long"), expiresAt, null, T0) { GrantExpiresAt = expiresAt });

    /// <summary>Each row's first cell, and what a token request gets in that state.</summary>
    private static readonly Dictionary<string, Action> Rows = new(StringComparer.Ordinal)
    {
        ["Valid"] = () =>
        {
            var data = Registered(T0.AddHours(8));
            Assert.Equal(TokenDecision.Serve, data.DecideToken(T0.AddHours(1), Options));
        },
        ["Refreshing"] = () =>
        {
            // Entered at the refresh point, and when the current token was reported rejected.
            var data = Registered(T0.AddHours(8));
            Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0.AddHours(8) - Options.RefreshLead, Options));
            Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0.AddHours(1), Options, tokenRejected: true));
        },
        ["BackingOff(until)"] = () =>
        {
            var data = Registered(T0.AddMinutes(10)).Apply(new RefreshFailed(ErrorClasses.RateLimited, "429", T0.AddMinutes(20), true, T0));
            // A token valid for at least MinimumValidity is served; past that, "backing off until T".
            Assert.Equal(TokenDecision.Serve, data.DecideToken(T0.AddMinutes(10) - Options.MinimumValidity - TimeSpan.FromSeconds(1), Options));
            Assert.Equal(TokenDecision.BackOff, data.DecideToken(T0.AddMinutes(10) - Options.MinimumValidity, Options));
            Assert.Equal(TokenDecision.BackOff, data.DecideToken(T0.AddMinutes(1), Options, tokenRejected: true));
            // At "until" it refreshes.
            Assert.Equal(TokenDecision.Refresh, data.DecideToken(T0.AddMinutes(20), Options));
        },
        ["PolicyBlocked(reason)"] = () =>
        {
            var data = Registered(T0.AddHours(8)).Apply(new AccountBlocked(ErrorClasses.PolicyRefused, "organisation policy", T0));
            Assert.Equal(TokenDecision.Blocked, data.DecideToken(T0.AddHours(1), Options));
            Assert.Equal(TokenDecision.Blocked, data.DecideToken(T0.AddHours(1), Options, tokenRejected: true));
        },
        ["Valid, long-lived (no refresh token)"] = () =>
        {
            var data = LongLived(T0.AddDays(300));
            Assert.Equal(TokenDecision.Serve, data.DecideToken(T0.AddDays(299), Options));
            Assert.Equal(TokenDecision.Expired, data.DecideToken(T0.AddDays(300), Options));
        },
        ["PolicyBlocked (`token_expired`, `token_rejected`)"] = () =>
        {
            var expired = LongLived(T0.AddDays(1)).Apply(new AccountBlocked(ErrorClasses.TokenExpired, "the long-lived access token has expired", T0.AddDays(1)));
            Assert.Equal(TokenDecision.Blocked, expired.DecideToken(T0.AddDays(2), Options));
            var rejected = LongLived(T0.AddDays(1)).Apply(new AccountBlocked(ErrorClasses.TokenRejected, "the API refused it", T0));
            Assert.Equal(TokenDecision.Blocked, rejected.DecideToken(T0.AddHours(1), Options));
        },
    };

    [Fact]
    public void Every_row_of_the_state_table_has_its_case_and_every_case_its_row()
    {
        var rows = TableRows();
        Assert.Equal(Rows.Keys.Order(StringComparer.Ordinal), rows.Order(StringComparer.Ordinal));
    }

    public static TheoryData<string> RowNames() => new(Rows.Keys);

    [Theory]
    [MemberData(nameof(RowNames))]
    public void A_token_request_gets_what_its_row_says(string row) => Rows[row]();

    /// <summary>The first cell of every body row of the table under "## Account states".</summary>
    private static List<string> TableRows()
    {
        var lines = File.ReadAllLines(ActorRefresh.Testing.RepositoryRoot.Combine("docs", "design.md"));
        var start = Array.IndexOf(lines, "## Account states");
        Assert.True(start >= 0, "docs/design.md has no '## Account states' section");
        return lines.Skip(start + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|'))
            .Skip(2) // header and separator
            .Select(l => l.Split('|')[1].Trim())
            .ToList();
    }
}
