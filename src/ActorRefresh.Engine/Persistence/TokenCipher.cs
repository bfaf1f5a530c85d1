using System.Security.Cryptography;
using System.Text;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Encrypts token fields at rest with AES-256-GCM. Format <c>v2:</c> + key id + <c>:</c> + base64(nonce ‖ ciphertext ‖ tag),
/// associated data <c>ActorRefresh.token.v2|&lt;key id&gt;|&lt;field&gt;</c>: a ciphertext moved to another field (a refresh
/// token into an access-token field, to be read through <c>/token</c>) fails authentication, and a wrong key is named
/// by its id instead of a bare tag mismatch. <c>v1:</c> fields (one constant associated data) are still read; every
/// write is <c>v2:</c>, so the next snapshot rewrites them.
/// </summary>
internal sealed class TokenCipher
{
    private const string V1Prefix = "v1:";
    private const string V2Prefix = "v2:";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] V1AssociatedData = "ActorRefresh.token.v1"u8.ToArray();
    private readonly byte[] _key;

    public TokenCipher(byte[] key)
    {
        if (key.Length != 32) throw new ArgumentException("The token encryption key must be 32 bytes (256 bits).", nameof(key));
        _key = key;
        KeyId = KeyIdOf(key);
    }

    /// <summary>The id of this cipher's key, written in front of every field it encrypts.</summary>
    public string KeyId { get; }

    /// <summary>A short public name of a key: 8 hex digits of an HMAC under the key, which reveals nothing of it.</summary>
    public static string KeyIdOf(byte[] key) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, "ActorRefresh.key-id"u8)).Substring(0, 8);

    /// <param name="plaintext">The token.</param>
    /// <param name="field">The field it is stored in (JSON property name), bound into the associated data.</param>
    public string Encrypt(string plaintext, string field)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[NonceSize + plain.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, output.AsSpan(NonceSize, plain.Length), output.AsSpan(NonceSize + plain.Length), V2AssociatedData(KeyId, field));
        CryptographicOperations.ZeroMemory(plain);
        return V2Prefix + KeyId + ":" + Convert.ToBase64String(output);
    }

    /// <exception cref="CryptographicException">Unknown format, another key, or a field that was not written here; the message names no token.</exception>
    public string Decrypt(string stored, string field)
    {
        if (stored.StartsWith(V1Prefix, StringComparison.Ordinal))
            return Open(stored[V1Prefix.Length..], V1AssociatedData, "");
        if (!stored.StartsWith(V2Prefix, StringComparison.Ordinal))
            throw new CryptographicException("Stored token has an unknown format version.");
        var idEnd = stored.IndexOf(':', V2Prefix.Length);
        if (idEnd < 0) throw new CryptographicException("Stored token has no key id.");
        var keyId = stored[V2Prefix.Length..idEnd];
        if (!string.Equals(keyId, KeyId, StringComparison.Ordinal))
            throw new CryptographicException(
                $"Stored tokens were encrypted with key id {keyId}, but the configured token encryption key has id {KeyId}: " +
                "this is not the key of this store (ActorRefresh:Storage:EncryptionKey, or the data folder's token-encryption.key).");
        return Open(stored[(idEnd + 1)..], V2AssociatedData(keyId, field), field);
    }

    private string Open(string base64, byte[] associatedData, string field)
    {
        var data = Convert.FromBase64String(base64);
        if (data.Length < NonceSize + TagSize) throw new CryptographicException("Stored token is truncated.");
        var cipherLength = data.Length - NonceSize - TagSize;
        var plain = new byte[cipherLength];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(data.AsSpan(0, NonceSize), data.AsSpan(NonceSize, cipherLength), data.AsSpan(NonceSize + cipherLength), plain, associatedData);
        }
        catch (AuthenticationTagMismatchException exception)
        {
            throw new CryptographicException(field.Length == 0
                ? "Stored token does not authenticate under the configured key (wrong key or damaged data)."
                : $"Stored token in field '{field}' does not authenticate: it was not written to this field with this key (moved or damaged).", exception);
        }
        return Encoding.UTF8.GetString(plain);
    }

    private static byte[] V2AssociatedData(string keyId, string field) => Encoding.UTF8.GetBytes($"ActorRefresh.token.v2|{keyId}|{field}");
}
