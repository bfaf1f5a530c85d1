using ActorRefresh.Testing;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ActorRefresh.Hosting.Tests.Reliability;
using ActorRefresh.TestKit;
using Npgsql;
using Xunit.Abstractions;

using static ActorRefresh.Host.Tests.Cluster.ClusterWait;

namespace ActorRefresh.Host.Tests.Cluster;

/// <summary>
/// Three nodes on a PostgreSQL server of their own (so stopping it touches no other test). Tokens are refreshed 30 s before
/// they expire, so a token whose refresh falls in the outage stays servable for almost that long.
/// </summary>
public sealed class OutageClusterFixture : ClusterFixture
{
    public static readonly TimeSpan RefreshLead = TimeSpan.FromSeconds(30);

    internal PrivatePostgres? Postgres { get; } = PrivatePostgres.Unavailable is null ? PrivatePostgres.Create() : null;

    protected override string? AdminConnection()
    {
        if (Postgres is null) return base.AdminConnection();
        Postgres.Start();
        return Postgres.ConnectionString;
    }

    protected override void Configure(IDictionary<string, string> environment)
    {
        environment["ActorRefresh__Engine__RefreshLead"] = "00:00:30";
        // A node asks PostgreSQL for at most 3 s per attempt while it is down.
        environment["ActorRefresh__Storage__ConnectionString"] += ";Timeout=3;Command Timeout=5";
    }

    public override async Task DisposeAsync()
    {
        try
        {
            // The nodes and the database are removed with the server running (it is already, if the test failed early).
            try { Postgres?.Start(); } catch (InvalidOperationException) { }
            // Connections pooled before the server stopped are dead: the database is dropped over new ones.
            NpgsqlConnection.ClearAllPools();
            await base.DisposeAsync();
        }
        finally
        {
            Postgres?.Dispose();
        }
    }
}

/// <summary>
/// The store-outage fallback in cluster mode (issue 12 item 3), with the PostgreSQL server really stopped: a token that
/// stays valid is served on every node, also after its refresh point has passed and the refresh could not even journal
/// its intent; a blocked account's token is served nowhere.
/// </summary>
[Collection("cluster")]
public sealed class ClusterOutageTests(OutageClusterFixture cluster, ITestOutputHelper output) : IClassFixture<OutageClusterFixture>
{
    private FakeTokenServer Server => cluster.Server;

    [ClusterFact]
    public async Task With_postgresql_stopped_every_node_serves_tokens_that_stay_valid_and_none_serves_a_blocked_one()
    {
        Assert.True(cluster.Postgres is not null, PrivatePostgres.Unavailable);
        await cluster.EnsureThreeNodesAsync();
        var now = DateTimeOffset.UtcNow;
        // "steady" is fresh for the whole test; "due" passes its refresh point (expiry - 30 s) 32 s from now, during the
        // outage, and stays valid for 30 s more; "blocked" holds an hour-long token but is blocked before the outage.
        var steady = await RegisterAsync("outage-steady", now.AddHours(1));
        // 32 s leave the set-up (three registrations, a block, every node answering) room on a loaded machine: with 12 s it
        // ran out once before the store could be stopped.
        var dueExpiry = now.AddSeconds(62);
        var due = await RegisterAsync("outage-due", dueExpiry);
        var blocked = await RegisterAsync("outage-blocked", now.AddHours(1));
        using (var block = await cluster.Nodes[1].Http.PostAsJsonAsync("v1/accounts/outage-blocked/block", new { reason = "test" }))
            Assert.Equal(HttpStatusCode.OK, block.StatusCode);
        var dueRefreshPoint = dueExpiry - OutageClusterFixture.RefreshLead;
        Assert.True(await WaitForAsync(async () =>
        {
            foreach (var node in cluster.Nodes)
            {
                if (await AnswerAsync(node, "outage-steady") != steady || await AnswerAsync(node, "outage-due") != due) return false;
                if (await AnswerAsync(node, "outage-blocked") == blocked) return false;
            }
            return true;
        }, TimeSpan.FromSeconds(20)), "the accounts did not answer on every node before the outage:\n" + cluster.Logs());
        Assert.True(DateTimeOffset.UtcNow < dueRefreshPoint - TimeSpan.FromSeconds(2), "the set-up took too long to stop the store before the refresh point");

        cluster.Postgres!.Stop();
        output.WriteLine($"PostgreSQL stopped; 'due' reaches its refresh point in {(dueRefreshPoint - DateTimeOffset.UtcNow).TotalSeconds:0.0} s");

        // Wait until the refresh point has passed and the account has tried (and failed) to refresh: its status cannot be
        // read from the journal any more (or the account says it cannot refresh).
        await WaitUntilAsync(() => DateTimeOffset.UtcNow > dueRefreshPoint + TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(45));
        var answers = new List<string>();
        // Ask every node, three times each, until 5 s before the token's minimum validity: every answer is the token.
        var until = dueExpiry - TimeSpan.FromSeconds(6);
        var rounds = 0;
        while (DateTimeOffset.UtcNow < until && rounds < 3)
        {
            foreach (var node in cluster.Nodes)
            {
                var started = DateTimeOffset.UtcNow;
                var got = await AnswerAsync(node, "outage-due");
                if (DateTimeOffset.UtcNow >= until) break;
                answers.Add($"{node.HttpPort} due: {(got == due ? "token" : got)} in {(DateTimeOffset.UtcNow - started).TotalSeconds:0.0} s");
                Assert.True(got == due, $"node {node.HttpPort} did not serve the still-valid token of 'due' during the outage: {got}\n" + string.Join("\n", answers) + "\n" + cluster.Logs());
                Assert.Equal(steady, await AnswerAsync(node, "outage-steady"));
                var refusal = await AnswerAsync(node, "outage-blocked");
                Assert.NotEqual(blocked, refusal);
                answers.Add($"{node.HttpPort} blocked: {refusal}");
            }
            rounds++;
        }
        output.WriteLine(string.Join("\n", answers));
        Assert.True(rounds >= 1, "no full round of answers fitted before the token's minimum validity");
        // The outage was real for 'due': its refresh could not journal (or its actor could not recover) and it restarted.
        Assert.Contains(cluster.Nodes, n => n.Log.Contains("Account outage-due: journal write failed", StringComparison.Ordinal)
                                            || n.Log.Contains("Account outage-due: recovery failed", StringComparison.Ordinal));
        // Nothing reached the provider: the intent could never be journaled.
        Assert.Equal(0, Server.CountersOf("outage-due").RefreshCalls);
    }

    private async Task<string> RegisterAsync(string id, DateTimeOffset expiresAt)
    {
        var issued = Server.CreateAccount(id);
        using var response = await cluster.Nodes[0].Http.PostAsJsonAsync("v1/accounts", new
        {
            id,
            provider = "claude",
            refreshToken = issued.RefreshToken,
            accessToken = issued.AccessToken,
            expiresAt,
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"register {id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return issued.AccessToken;
    }

    /// <summary>The access token a node answers for the account, or the status code / failure it answers instead.</summary>
    private static async Task<string> AnswerAsync(Testing.ClusterNode node, string id)
    {
        try
        {
            using var response = await node.Http.GetAsync($"v1/accounts/{id}/token");
            if (response.StatusCode != HttpStatusCode.OK) return $"HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString()!;
        }
        catch (Exception e) when (ClusterNode.IsNoAnswer(e))
        {
            return "no answer: " + e.GetType().Name;
        }
    }
}
