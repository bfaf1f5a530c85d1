using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Persistence;
using ActorRefresh.Engine.Region;
using ActorRefresh.Engine.Tests.Support;
using Akka.Serialization;
using Xunit.Abstractions;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>Every persisted type goes through the project's serializer and comes back equal.</summary>
public sealed class SerializerTests(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(new EngineTestStore().Config, output: output)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<object> Persisted() =>
    [
        new AccountRegistered("claude", new Secret("sk-ant-ort01-abc"), new Secret("sk-ant-oat01-xyz"), T0.AddHours(8), "/home/u/.claude/.credentials.json", T0),
        new AccountRegistered("generic", new Secret("rt"), null, null, null, T0),
        new RefreshStarted("0123456789abcdef", T0),
        new RefreshStarted("0123456789abcdef", T0, T0.AddSeconds(35)),
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt"), new Secret("at"), T0.AddHours(8), null, T0))
            .Apply(new RefreshStarted("0123456789abcdef", T0, T0.AddSeconds(35))),
        new TokensRefreshed(new Secret("sk-ant-oat01-new"), T0.AddHours(8), new Secret("sk-ant-ort01-new"), T0),
        new TokensRefreshed(new Secret("sk-ant-oat01-new"), T0.AddHours(8), null, T0),
        new RefreshFailed("rate_limited", "rate limited", T0.AddSeconds(30), true, T0),
        new RefreshFailed("transient", "connection reset", T0.AddSeconds(3), false, T0, TokenMaybeSpent: true),
        new AccountBlocked("policy_refused", "organisation policy", T0),
        new AccountBlocked("policy_refused", "organisation policy", T0, EndsRefresh: true),
        new RefreshFailed("expired_on_arrival", "already past its refresh point", T0.AddSeconds(1), false, T0),
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt"), new Secret("at"), T0.AddHours(8), null, T0))
            .Apply(new TokensRefreshed(new Secret("at2"), T0.AddSeconds(64), new Secret("rt2"), T0.AddSeconds(4))),
        new CredentialsReplaced(new Secret("rt2"), new Secret("at2"), T0.AddHours(1), null, T0),
        new AccountUnblocked(T0),
        new AccountRemoved(T0),
        new QuotaRecorded(93.5, T0.AddHours(2), 12, T0.AddDays(6), T0),
        new QuotaRecorded(null, null, 100, null, T0),
        new ApiCooldownStarted(T0.AddMinutes(2), T0),
        new UsageScopeMissing("user:profile", T0),
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt"), new Secret("at"), T0.AddHours(8), null, T0))
            .Apply(new QuotaRecorded(91, T0.AddHours(1), 40, T0.AddDays(2), T0))
            .Apply(new ApiCooldownStarted(T0.AddMinutes(5), T0))
            .Apply(new AccountBlocked("policy_refused", "organisation policy", T0))
            .Apply(new CredentialsReplaced(new Secret("rt2"), new Secret("at2"), T0.AddHours(8), null, T0)),
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt"), new Secret("at"), T0.AddHours(8), null, T0))
            .Apply(new RefreshFailed("transient", "503", T0.AddSeconds(3), false, T0))
            .Apply(new UsageScopeMissing("user:profile", T0)),
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt"), new Secret("at"), T0.AddHours(8), null, T0))
            .Apply(new TokensRefreshed(new Secret("at2"), T0.AddHours(8), new Secret("rt2"), T0))
            .Apply(new TokensRefreshed(new Secret("at3"), T0.AddHours(9), new Secret("rt3"), T0)),
        // Long-lived tokens and grant ends: a refresh token may be absent, events carry the grant's end.
        new AccountRegistered("claude", null, new Secret("sk-ant-oat01-long"), T0.AddDays(365), null, T0) { GrantExpiresAt = T0.AddDays(365) },
        new CredentialsReplaced(null, new Secret("sk-ant-oat01-long2"), T0.AddDays(300), null, T0) { GrantExpiresAt = T0.AddDays(300) },
        new TokensRefreshed(new Secret("sk-ant-oat01-new"), T0.AddHours(8), null, T0) { GrantExpiresAt = T0.AddDays(20) },
        new GrantExpiryNoticed(7, T0.AddDays(6), T0),
        new AccountBlocked(ErrorClasses.TokenExpired, "expired", T0),
        AccountData.Empty("a1").Apply(new AccountRegistered("claude", null, new Secret("at"), T0.AddDays(40), null, T0) { GrantExpiresAt = T0.AddDays(40) })
            .Apply(new GrantExpiryNoticed(30, T0.AddDays(40), T0.AddDays(10))),
        new DirectoryEntryAdded("a1"),
        new DirectoryEntryRemoved("a1"),
        new DirectorySnapshot(["a1", "a2"]),
    ];

    [Theory]
    [MemberData(nameof(Persisted))]
    public void Round_trips_through_the_configured_serializer(object value)
    {
        var serializer = Sys.Serialization.FindSerializerFor(value);
        var withManifest = Assert.IsType<AccountEventSerializer>(serializer);
        var manifest = withManifest.Manifest(value);
        Assert.InRange(manifest.Length, 1, 5);
        var bytes = serializer.ToBinary(value);
        var back = withManifest.FromBinary(bytes, manifest);
        if (value is DirectorySnapshot snapshot)
            Assert.Equal(snapshot.AccountIds, Assert.IsType<DirectorySnapshot>(back).AccountIds);
        else
            Assert.Equal(value, back);
    }

    /// <summary>Messages that cross nodes in cluster mode.</summary>
    public static TheoryData<object> Wire() =>
    [
        new AccountProtocol.GetToken("a1"),
        new AccountProtocol.ReportRejected("a1", "0123456789abcdef"),
        new AccountProtocol.Register(new AccountCredentials("a1", "claude", new Secret("rt"), new Secret("at"), T0, "/f")),
        new AccountProtocol.ReplaceCredentials(new AccountCredentials("a1", "claude", new Secret("rt"))),
        new AccountProtocol.Register(new AccountCredentials("a1", "claude", null, new Secret("sk-ant-oat01-long"), T0) { GrantExpiresAt = T0.AddDays(3) }),
        new AccountProtocol.StatusReply(AccountData.Empty("a1").Apply(new AccountRegistered("claude", null, new Secret("at"), T0.AddDays(40), null, T0) { GrantExpiresAt = T0.AddDays(40) })
            .Apply(new GrantExpiryNoticed(30, T0.AddDays(40), T0.AddDays(10))).ToStatus(false, null, 2)),
        new AccountProtocol.Unblock("a1"),
        new AccountProtocol.Block("a1", "maintenance"),
        new AccountProtocol.ForceRefresh("a1"),
        new AccountProtocol.Remove("a1"),
        new AccountProtocol.GetStatus("a1"),
        new AccountProtocol.TokenGranted("a1", new AccessToken(new Secret("sk-ant-oat01-x"), T0)),
        new AccountProtocol.BackingOff("a1", T0, "rate limited"),
        new AccountProtocol.Blocked("a1", "policy"),
        new AccountProtocol.NotRegistered("a1"),
        new AccountProtocol.CommandRefused("a1", "bad"),
        AccountProtocol.ListAccounts.Instance,
        new AccountProtocol.CountAccounts("a1"),
        new AccountProtocol.AccountCount(2, true),
        new Clustering.TokenPublished("a1", new AccessToken(new Secret("sk-ant-oat01-x"), T0), T0, 42, "akka.tcp://actor-refresh@10.0.0.1:4053"),
        new Clustering.TokenWithdrawn("a1", 43, true),
        new Clustering.TokenWithdrawConfirmed("a1", 43),
        Clustering.StopAccount.Instance,
    ];

    [Fact]
    public void Events_written_before_long_lived_tokens_read_with_no_grant_end()
    {
        // What earlier versions journaled: a refresh token always, no grant end.
        var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(new AccountUnblocked(T0)));
        var old = new AccountRegistered("claude", new Secret("sk-ant-ort01-old"), new Secret("sk-ant-oat01-old"), T0.AddHours(8), null, T0).For("a1");
        var json = System.Text.Json.Nodes.JsonNode.Parse(serializer.ToBinary(old))!.AsObject();
        Assert.False(json.ContainsKey("grantExpiresAt"));
        var back = Assert.IsType<AccountRegistered>(serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()), "reg"));
        Assert.Null(back.GrantExpiresAt);
        Assert.Equal("sk-ant-ort01-old", back.RefreshToken!.Reveal());
        Assert.False(AccountData.Empty("a1").Apply(back).IsStatic);
    }

    [Theory]
    [MemberData(nameof(Wire))]
    public void Cluster_messages_round_trip_with_tokens_encrypted(object value)
    {
        var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(value));
        var bytes = serializer.ToBinary(value);
        Assert.DoesNotContain("sk-ant", System.Text.Encoding.UTF8.GetString(bytes));
        Assert.Equal(value, serializer.FromBinary(bytes, serializer.Manifest(value)));
    }

    [Fact]
    public void A_replica_sync_round_trips_with_tokens_encrypted()
    {
        const string origin = "akka.tcp://actor-refresh@10.0.0.1:4053";
        var sync = new Clustering.ReplicaSync(origin, [new Clustering.TokenPublished("a1", new AccessToken(new Secret("sk-ant-oat01-x"), T0), T0, 42, origin)]);
        var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(sync));
        var bytes = serializer.ToBinary(sync);
        Assert.DoesNotContain("sk-ant", System.Text.Encoding.UTF8.GetString(bytes));
        var back = Assert.IsType<Clustering.ReplicaSync>(serializer.FromBinary(bytes, serializer.Manifest(sync)));
        Assert.Equal(origin, back.Origin);
        Assert.Equal(sync.Tokens, back.Tokens);
    }

    [Fact]
    public void Status_and_id_list_replies_round_trip()
    {
        var status = new AccountStatus("a1", "claude", AccountState.BackingOff, T0, null, T0.AddSeconds(5), "rate_limited", "429", false, new AccountCounters(1, 2, 3), 7);
        var reply = new AccountProtocol.StatusReply(status);
        var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(reply));
        Assert.Equal(reply, serializer.FromBinary(serializer.ToBinary(reply), serializer.Manifest(reply)));
        var ids = new AccountProtocol.AccountIds(["a1", "a2"]);
        var back = Assert.IsType<AccountProtocol.AccountIds>(serializer.FromBinary(serializer.ToBinary(ids), serializer.Manifest(ids)));
        Assert.Equal(ids.Ids, back.Ids);
    }

    /// <summary>
    /// Every concrete type bound to the project's serializer in hocon.conf (events, snapshots, and every message that can
    /// cross nodes: <see cref="IAccountMessage"/>, the cluster messages, the directory's list and its reply) has a manifest
    /// and comes back with the same content. Found by reflection, so a new message without a manifest fails here.
    /// </summary>
    [Fact]
    public void Every_type_bound_to_the_serializer_has_a_manifest_and_round_trips()
    {
        var bound = Sys.Settings.Config.GetConfig("akka.actor.serialization-bindings").AsEnumerable()
            .Where(kv => kv.Value.GetString() == "actor-refresh")
            .Select(kv => Type.GetType(kv.Key, throwOnError: true)!)
            .ToList();
        Assert.Contains(typeof(IAccountMessage), bound);
        Assert.Contains(typeof(Clustering.IClusterMessage), bound);
        var types = bound.Select(t => t.Assembly).Distinct()
            .SelectMany(a => a.GetTypes())
            .Where(t => t is { IsAbstract: false, IsInterface: false, ContainsGenericParameters: false } && bound.Any(b => b.IsAssignableFrom(t)))
            .Where(t => !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute), false))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();
        Assert.Contains(typeof(AccountProtocol.ReportUsage), types);

        var failures = new List<string>();
        foreach (var type in types)
        {
            try
            {
                var value = SampleValues.Of(type);
                var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(value));
                var manifest = serializer.Manifest(value);
                var back = serializer.FromBinary(serializer.ToBinary(value), manifest);
                Assert.IsType(type, back);
                Assert.Equal(SampleValues.Describe(value), SampleValues.Describe(back));
            }
            catch (Exception e)
            {
                failures.Add($"{type.Name}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(types.Count >= 30, $"only {types.Count} bound types found: " + string.Join(", ", types.Select(t => t.Name)));
        Assert.True(failures.Count == 0, "Types that do not round-trip through the project's serializer:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void Token_fields_are_encrypted_in_the_payload()
    {
        var value = new TokensRefreshed(new Secret("sk-ant-oat01-visible"), T0, new Secret("sk-ant-ort01-visible"), T0);
        var json = System.Text.Encoding.UTF8.GetString(Sys.Serialization.FindSerializerFor(value).ToBinary(value));
        Assert.DoesNotContain("visible", json);
        Assert.Contains("v3:", json);
    }

    [Fact]
    public void A_wrong_key_fails_without_revealing_the_token()
    {
        var value = new TokensRefreshed(new Secret("sk-ant-oat01-secret"), T0, null, T0);
        var bytes = Sys.Serialization.FindSerializerFor(value).ToBinary(value);
        var other = new AccountEventSerializer((Akka.Actor.ExtendedActorSystem)Sys, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var e = Assert.ThrowsAny<Exception>(() => other.FromBinary(bytes, "tr"));
        Assert.DoesNotContain("secret", e.ToString());
    }

    [Fact]
    public void Payloads_written_before_the_issue_time_and_the_block_flag_existed_still_read()
    {
        // A snapshot without accessTokenIssuedAt (the lifetime is then unknown) and a block without endsRefresh.
        var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(AccountData.Empty("a1")));
        var data = AccountData.Empty("a1").Apply(new AccountRegistered("claude", new Secret("rt"), new Secret("at"), T0.AddHours(8), null, T0))
            .Apply(new TokensRefreshed(new Secret("at2"), T0.AddSeconds(64), new Secret("rt2"), T0.AddSeconds(4)));
        var node = System.Text.Json.Nodes.JsonNode.Parse(serializer.ToBinary(data))!.AsObject();
        Assert.True(node.Remove("accessTokenIssuedAt"));
        var old = Assert.IsType<AccountData>(serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes(node.ToJsonString()), "acct"));
        Assert.Null(old.AccessTokenIssuedAt);
        Assert.Null(old.Lifetime);
        Assert.Equal(T0.AddSeconds(64), old.ExpiresAt);

        var block = System.Text.Encoding.UTF8.GetBytes($$"""{"errorClass":"operator","reason":"blocked","at":"{{T0:O}}"}""");
        Assert.False(Assert.IsType<AccountBlocked>(serializer.FromBinary(block, "blk")).EndsRefresh);
    }

    [Fact]
    public void An_intent_written_before_intents_carried_a_deadline_reads_as_no_deadline_known()
    {
        var serializer = Assert.IsType<AccountEventSerializer>(Sys.Serialization.FindSerializerFor(AccountData.Empty("a1")));
        var intent = System.Text.Encoding.UTF8.GetBytes($$"""{"refreshTokenFingerprint":"0123456789abcdef","at":"{{T0:O}}"}""");
        var old = Assert.IsType<RefreshStarted>(serializer.FromBinary(intent, "rs"));
        Assert.Null(old.Deadline);
        Assert.Equal(T0, old.At);
    }
}
