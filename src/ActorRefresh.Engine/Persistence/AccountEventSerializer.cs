using System.Text.Json;
using System.Text.Json.Serialization;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Region;
using Akka.Actor;
using Akka.Serialization;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Serializes every journaled event and snapshot of the engine, and in cluster mode every message that crosses nodes,
/// with System.Text.Json under short, stable manifests (renaming a CLR type never breaks recovery or a rolling
/// upgrade). Token fields are encrypted with AES-GCM, at rest and on the wire; the key comes from HOCON
/// <c>actor-refresh.token-encryption-key</c> (base64), which the host fills in and every node of a cluster shares.
/// </summary>
internal sealed class AccountEventSerializer : SerializerWithStringManifest
{
    /// <summary>HOCON path of the base64 encryption key.</summary>
    public const string KeyConfigPath = "actor-refresh.token-encryption-key";

    /// <summary>HOCON path of the previous keys (a list of base64 keys that only decrypt).</summary>
    public const string PreviousKeysConfigPath = "actor-refresh.previous-token-encryption-keys";

    /// <summary>The serializer id (ids up to 100 belong to Akka).</summary>
    public const int SerializerId = 4711;

    private static readonly Dictionary<Type, string> Manifests = new()
    {
        [typeof(AccountRegistered)] = "reg",
        [typeof(RefreshStarted)] = "rs",
        [typeof(TokensRefreshed)] = "tr",
        [typeof(RefreshFailed)] = "rf",
        [typeof(AccountBlocked)] = "blk",
        [typeof(CredentialsReplaced)] = "cr",
        [typeof(AccountUnblocked)] = "ub",
        [typeof(AccountRemoved)] = "rm",
        [typeof(HistoryRewritten)] = "rw",
        [typeof(QuotaRecorded)] = "qr",
        [typeof(ApiCooldownStarted)] = "cd",
        [typeof(UsageScopeMissing)] = "usm",
        [typeof(GrantExpiryNoticed)] = "gen",
        [typeof(AccountData)] = "acct",
        [typeof(DirectoryEntryAdded)] = "dir+",
        [typeof(DirectoryEntryRemoved)] = "dir-",
        [typeof(DirectorySnapshot)] = "dirs",
        // Messages between nodes (cluster mode).
        [typeof(AccountProtocol.GetToken)] = "m.get",
        [typeof(AccountProtocol.ReportRejected)] = "m.rej",
        [typeof(AccountProtocol.Register)] = "m.reg",
        [typeof(AccountProtocol.ReplaceCredentials)] = "m.rc",
        [typeof(AccountProtocol.Unblock)] = "m.ub",
        [typeof(AccountProtocol.Block)] = "m.blk",
        [typeof(AccountProtocol.ForceRefresh)] = "m.fr",
        [typeof(AccountProtocol.Remove)] = "m.rm",
        [typeof(AccountProtocol.GetStatus)] = "m.st",
        [typeof(AccountProtocol.ReportUsage)] = "m.use",
        [typeof(AccountProtocol.Drain)] = "m.drain",
        [typeof(AccountProtocol.TokenGranted)] = "m.tok",
        [typeof(AccountProtocol.BackingOff)] = "m.bo",
        [typeof(AccountProtocol.Blocked)] = "m.bl",
        [typeof(AccountProtocol.NotRegistered)] = "m.nr",
        [typeof(AccountProtocol.StatusReply)] = "m.status",
        [typeof(AccountProtocol.CommandRefused)] = "m.refused",
        [typeof(AccountProtocol.ListAccounts)] = "m.list",
        [typeof(AccountProtocol.AccountIds)] = "m.ids",
        [typeof(AccountProtocol.CountAccounts)] = "m.count",
        [typeof(AccountProtocol.AccountCount)] = "m.counted",
        [typeof(Clustering.TokenPublished)] = "c.pub",
        [typeof(Clustering.TokenWithdrawn)] = "c.wd",
        [typeof(Clustering.ReplicaSync)] = "c.sync",
        [typeof(Clustering.TokenWithdrawConfirmed)] = "c.wdc",
        [typeof(Clustering.StopAccount)] = "c.stop",
    };

    private static readonly Dictionary<string, Type> Types = Manifests.ToDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>Every type the serializer writes, with its manifest (the golden-payload tests walk it).</summary>
    internal static IReadOnlyDictionary<Type, string> KnownManifests => Manifests;

    private readonly JsonSerializerOptions _json;

    /// <summary>Created by Akka from the serializer binding in hocon.conf.</summary>
    public AccountEventSerializer(ExtendedActorSystem system) : base(system)
    {
        var configured = system.Settings.Config.GetString(KeyConfigPath, null);
        if (string.IsNullOrWhiteSpace(configured))
            throw new InvalidOperationException($"HOCON '{KeyConfigPath}' is not set: the engine cannot encrypt tokens at rest.");
        var previous = system.Settings.Config.GetStringList(PreviousKeysConfigPath, [])
            .Select(k => TokenEncryptionKey.Parse(k, PreviousKeysConfigPath)).ToList();
        _json = CreateOptions(new TokenCipher(TokenEncryptionKey.Parse(configured, KeyConfigPath), previous));
    }

    internal AccountEventSerializer(ExtendedActorSystem system, byte[] key, IReadOnlyList<byte[]>? previous = null) : base(system) =>
        _json = CreateOptions(new TokenCipher(key, previous));

    // Accounts whose recovered events or snapshot held a field under a previous key or an older format: each one rewrites
    // its history under the current key when its recovery completes (AccountActor.RewriteHistory), then takes its entry.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _staleAccounts = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether a journaled payload of <paramref name="accountId"/> read since the last call held a token field under a
    /// previous key or in an older format; clears the mark.
    /// </summary>
    internal bool TakeStale(string accountId) => _staleAccounts.TryRemove(accountId, out _);

    private static JsonSerializerOptions CreateOptions(TokenCipher cipher) => new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new EncryptedSecretConverter(cipher, "") },
        // Each token property gets a converter that binds the ciphertext to the property's name.
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    foreach (var property in info.Properties.Where(p => p.PropertyType == typeof(Secret)))
                        property.CustomConverter = new EncryptedSecretConverter(cipher, property.Name);
                },
            },
        },
    };

    /// <inheritdoc />
    public override int Identifier => SerializerId;

    /// <inheritdoc />
    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new ArgumentException($"{o.GetType().Name} is not an ActorRefresh persisted type.", nameof(o));

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        byte[] bytes;
        CurrentAccount = AccountOf(obj);
        try
        {
            bytes = JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), _json);
        }
        finally
        {
            CurrentAccount = "";
        }
        if (obj is AccountData) Testing.CrashPoints.At(Testing.CrashPoints.DuringSnapshot); // only snapshots carry AccountData
        return bytes;
    }

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!Types.TryGetValue(manifest, out var type))
            throw new System.Runtime.Serialization.SerializationException($"Unknown ActorRefresh manifest '{manifest}'.");
        if (type == typeof(AccountProtocol.ListAccounts)) return AccountProtocol.ListAccounts.Instance;
        if (type == typeof(Clustering.StopAccount)) return Clustering.StopAccount.Instance;
        CurrentAccount = AccountIn(bytes);
        _staleRead = false;
        try
        {
            var result = JsonSerializer.Deserialize(bytes, type, _json)
                   ?? throw new System.Runtime.Serialization.SerializationException($"Empty payload for manifest '{manifest}'.");
            // Only journal and snapshot payloads are rewritten; messages between nodes are not stored.
            if (_staleRead && result is IAccountPersisted && CurrentAccount.Length > 0) _staleAccounts.TryAdd(CurrentAccount, 0);
            return result;
        }
        finally
        {
            CurrentAccount = "";
            _staleRead = false;
        }
    }

    // Set by a token field of the payload being read that is not under the current key in the current format.
    [ThreadStatic] private static bool _staleRead;

    // The account a payload's token fields are bound to: its top-level "accountId" (AccountData, token-bearing events
    // stamped by their actor, messages naming an account), "" when it has none. Set around one synchronous
    // (de)serialization, so a thread-static is enough.
    [ThreadStatic] private static string? _currentAccount;

    private static string CurrentAccount
    {
        get => _currentAccount ?? "";
        set => _currentAccount = value;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, System.Reflection.PropertyInfo?> AccountProperties = new();

    /// <summary>The value that serializes as the top-level <c>accountId</c> of <paramref name="obj"/>.</summary>
    private static string AccountOf(object obj)
    {
        var property = AccountProperties.GetOrAdd(obj.GetType(), t =>
            t.GetProperty("AccountId", typeof(string)) is { CanRead: true } p && p.GetMethod!.IsPublic ? p : null);
        return property?.GetValue(obj) as string ?? "";
    }

    /// <summary>The top-level <c>accountId</c> of a payload, read before its token fields are decrypted.</summary>
    private static string AccountIn(byte[] bytes)
    {
        var reader = new Utf8JsonReader(bytes);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return "";
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isAccount = reader.ValueTextEquals("accountId"u8);
            reader.Read();
            if (isAccount) return reader.TokenType == JsonTokenType.String ? reader.GetString() ?? "" : "";
            reader.Skip();
        }
        return "";
    }

    /// <summary>Writes a <see cref="Secret"/> encrypted and bound to <paramref name="field"/> and the current account; reads it back decrypted.</summary>
    private sealed class EncryptedSecretConverter(TokenCipher cipher, string field) : JsonConverter<Secret>
    {
        public override Secret Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var plain = cipher.Decrypt(reader.GetString() ?? throw new JsonException("Encrypted token is null."), field, CurrentAccount, out var current);
            if (!current) _staleRead = true;
            return new(plain);
        }

        public override void Write(Utf8JsonWriter writer, Secret value, JsonSerializerOptions options) =>
            writer.WriteStringValue(cipher.Encrypt(value.Reveal(), field, CurrentAccount));
    }
}
