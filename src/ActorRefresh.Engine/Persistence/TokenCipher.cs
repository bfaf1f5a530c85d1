using System.Security.Cryptography;
using System.Text;

namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Encrypts token fields at rest with AES-256-GCM. Format: <c>v1:</c> + base64(nonce ‖ ciphertext ‖ tag).
/// The version prefix leaves room for key rotation (a new prefix per key generation).
/// </summary>
internal sealed class TokenCipher
{
    private const string Prefix = "v1:";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] AssociatedData = "ActorRefresh.token.v1"u8.ToArray();
    private readonly byte[] _key;

    public TokenCipher(byte[] key)
    {
        if (key.Length != 32) throw new ArgumentException("The token encryption key must be 32 bytes (256 bits).", nameof(key));
        _key = key;
    }

    public string Encrypt(string plaintext)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[NonceSize + plain.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, output.AsSpan(NonceSize, plain.Length), output.AsSpan(NonceSize + plain.Length), AssociatedData);
        CryptographicOperations.ZeroMemory(plain);
        return Prefix + Convert.ToBase64String(output);
    }

    public string Decrypt(string stored)
    {
        if (!stored.StartsWith(Prefix, StringComparison.Ordinal))
            throw new CryptographicException("Stored token has an unknown format version.");
        var data = Convert.FromBase64String(stored[Prefix.Length..]);
        if (data.Length < NonceSize + TagSize) throw new CryptographicException("Stored token is truncated.");
        var cipherLength = data.Length - NonceSize - TagSize;
        var plain = new byte[cipherLength];
        using var aes = new AesGcm(_key, TagSize);
        // Throws AuthenticationTagMismatchException with a wrong key: the message names no token.
        aes.Decrypt(data.AsSpan(0, NonceSize), data.AsSpan(NonceSize, cipherLength), data.AsSpan(NonceSize + cipherLength), plain, AssociatedData);
        return Encoding.UTF8.GetString(plain);
    }
}
