using System.Security.Cryptography;
using System.Text;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Encrypts token fields at rest with AES-256-GCM. Format <c>v3:</c> + key id + <c>:</c> + base64(nonce ‖ ciphertext ‖ tag),
/// associated data <c>ActorRefresh.token.v3|&lt;key id&gt;|&lt;account id&gt;|&lt;field&gt;</c>: a ciphertext moved to another
/// field (a refresh token into an access-token field, to be read through <c>/token</c>) or to another account's rows fails
/// authentication, and a wrong key is named by its id instead of a bare tag mismatch. <c>v1:</c> fields (one constant
/// associated data) and <c>v2:</c> fields (key id and field, no account) are still read; every write is <c>v3:</c>, so the
/// next snapshot rewrites them.
/// A key ring: the current key encrypts; previous keys (rotation) only decrypt, found by the field's key id.
/// </summary>
internal sealed class TokenCipher
{
    private const string V1Prefix = "v1:";
    private const string V2Prefix = "v2:";
    private const string V3Prefix = "v3:";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] V1AssociatedData = "ActorRefresh.token.v1"u8.ToArray();
    private readonly byte[] _key;
    private readonly Dictionary<string, byte[]> _ring = new(StringComparer.Ordinal);

    /// <param name="key">The current key: encrypts and decrypts.</param>
    /// <param name="previous">Previous keys (rotation): decrypt fields written under them, never encrypt.</param>
    public TokenCipher(byte[] key, IReadOnlyList<byte[]>? previous = null)
    {
        if (key.Length != 32) throw new ArgumentException("The token encryption key must be 32 bytes (256 bits).", nameof(key));
        _key = key;
        KeyId = KeyIdOf(key);
        _ring[KeyId] = key;
        foreach (var old in previous ?? [])
        {
            if (old.Length != 32) throw new ArgumentException("A previous token encryption key must be 32 bytes (256 bits).", nameof(previous));
            // A duplicate is refused at start with the setting's name (StorageKeyRing); here the first one wins.
            _ring.TryAdd(KeyIdOf(old), old);
        }
        PreviousKeyIds = _ring.Keys.Where(id => id != KeyId).ToList();
    }

    /// <summary>The id of this cipher's key, written in front of every field it encrypts.</summary>
    public string KeyId { get; }

    /// <summary>The ids of the previous keys, which only decrypt.</summary>
    public IReadOnlyList<string> PreviousKeyIds { get; }

    /// <summary>A short public name of a key: 8 hex digits of an HMAC under the key, which reveals nothing of it.</summary>
    public static string KeyIdOf(byte[] key) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, "ActorRefresh.key-id"u8)).Substring(0, 8);

    /// <param name="plaintext">The token.</param>
    /// <param name="field">The field it is stored in (JSON property name), bound into the associated data.</param>
    /// <param name="account">The account it belongs to ("" for messages of no account), bound into the associated data.</param>
    public string Encrypt(string plaintext, string field, string account)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[NonceSize + plain.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, output.AsSpan(NonceSize, plain.Length), output.AsSpan(NonceSize + plain.Length), V3AssociatedData(KeyId, account, field));
        CryptographicOperations.ZeroMemory(plain);
        return V3Prefix + KeyId + ":" + Convert.ToBase64String(output);
    }

    /// <exception cref="CryptographicException">Unknown format, another key, or a field that was not written here; the message names no token.</exception>
    public string Decrypt(string stored, string field, string account) => Decrypt(stored, field, account, out _);

    /// <param name="stored">The stored field.</param>
    /// <param name="field">The field it is stored in.</param>
    /// <param name="account">The account it belongs to.</param>
    /// <param name="current">Whether the field is in the current format under the current key; false means its row should be rewritten.</param>
    /// <exception cref="CryptographicException">Unknown format, a key not in the ring, or a field that was not written here; the message names no token.</exception>
    public string Decrypt(string stored, string field, string account, out bool current)
    {
        current = false;
        if (stored.StartsWith(V1Prefix, StringComparison.Ordinal))
            return OpenV1(stored[V1Prefix.Length..]);
        var v3 = stored.StartsWith(V3Prefix, StringComparison.Ordinal);
        if (!v3 && !stored.StartsWith(V2Prefix, StringComparison.Ordinal))
            throw new CryptographicException("Stored token has an unknown format version.");
        var keyId = KeyIdIn(stored) ?? throw new CryptographicException("Stored token has no key id.");
        if (!_ring.TryGetValue(keyId, out var key))
            throw new CryptographicException(
                $"Stored tokens were encrypted with key id {keyId}, but the configured token encryption key has id {KeyId}" +
                (PreviousKeyIds.Count > 0 ? $" (previous keys: {string.Join(", ", PreviousKeyIds)})" : "") +
                ": this is not the key of this store (ActorRefresh:Storage:EncryptionKey or :PreviousEncryptionKeys, or the data folder's token-encryption.key).");
        var body = stored[(V2Prefix.Length + keyId.Length + 1)..];
        current = v3 && ReferenceEquals(key, _key);
        return v3
            ? Open(key, body, V3AssociatedData(keyId, account, field), field, account)
            : Open(key, body, V2AssociatedData(keyId, field), field, "");
    }

    // v1 fields name no key: try the current key, then the previous ones.
    private string OpenV1(string body)
    {
        CryptographicException? first = null;
        foreach (var key in _ring.Values)
        {
            try
            {
                return Open(key, body, V1AssociatedData, "", "");
            }
            catch (CryptographicException exception)
            {
                first ??= exception;
            }
        }
        throw first!;
    }

    /// <summary>The key id of a <c>v2:</c>/<c>v3:</c> field, null for other formats.</summary>
    public static string? KeyIdIn(string stored)
    {
        if (!stored.StartsWith(V2Prefix, StringComparison.Ordinal) && !stored.StartsWith(V3Prefix, StringComparison.Ordinal)) return null;
        var idEnd = stored.IndexOf(':', V2Prefix.Length);
        return idEnd < 0 ? null : stored[V2Prefix.Length..idEnd];
    }

    private static string Open(byte[] key, string base64, byte[] associatedData, string field, string account)
    {
        var data = Convert.FromBase64String(base64);
        if (data.Length < NonceSize + TagSize) throw new CryptographicException("Stored token is truncated.");
        var cipherLength = data.Length - NonceSize - TagSize;
        var plain = new byte[cipherLength];
        using var aes = new AesGcm(key, TagSize);
        try
        {
            aes.Decrypt(data.AsSpan(0, NonceSize), data.AsSpan(NonceSize, cipherLength), data.AsSpan(NonceSize + cipherLength), plain, associatedData);
        }
        catch (AuthenticationTagMismatchException exception)
        {
            throw new CryptographicException(field.Length == 0
                ? "Stored token does not authenticate under the configured key (wrong key or damaged data)."
                : account.Length == 0
                    ? $"Stored token in field '{field}' does not authenticate: it was not written to this field with this key (moved or damaged)."
                    : $"Stored token in field '{field}' of account '{account}' does not authenticate: it was not written to this field of this account with this key (copied from another account, moved or damaged).", exception);
        }
        return Encoding.UTF8.GetString(plain);
    }

    // Account ids cannot contain '|' (AccountIdRules), so the parts cannot run into each other.
    private static byte[] V3AssociatedData(string keyId, string account, string field) =>
        Encoding.UTF8.GetBytes($"ActorRefresh.token.v3|{keyId}|{account}|{field}");

    private static byte[] V2AssociatedData(string keyId, string field) => Encoding.UTF8.GetBytes($"ActorRefresh.token.v2|{keyId}|{field}");
}
