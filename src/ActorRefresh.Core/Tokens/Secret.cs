using System.Security.Cryptography;
using System.Text;

namespace ActorRefresh.Core.Tokens;

/// <summary>
/// A token value (access or refresh token) that never shows itself by accident:
/// <see cref="ToString"/> prints only a short fingerprint, so a secret passed to a logger,
/// an exception message or string interpolation does not leak. Read the value with
/// <see cref="Reveal"/> only where it goes on the wire.
/// </summary>
public sealed class Secret : IEquatable<Secret>
{
    private readonly string _value;
    private string? _fingerprint;

    /// <summary>Wraps <paramref name="value"/>; it must not be empty.</summary>
    /// <exception cref="ArgumentException">The value is null, empty or white space.</exception>
    public Secret(string value)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentException("A token must not be empty.", nameof(value));
        _value = value;
    }

    /// <summary>The token text. Call only to put the token on the wire or into encrypted storage.</summary>
    public string Reveal() => _value;

    /// <summary>
    /// A stable, non-reversible short id of the token (first 8 bytes of SHA-256, hex), safe to log
    /// and to use in "this token was rejected" reports.
    /// </summary>
    public string Fingerprint => _fingerprint ??= FingerprintOf(_value);

    /// <summary>Computes the fingerprint of a raw token text.</summary>
    public static string FingerprintOf(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(token), hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    /// <summary>Wraps a possibly empty value; returns null when there is no token.</summary>
    public static Secret? FromNullable(string? value) => string.IsNullOrWhiteSpace(value) ? null : new Secret(value);

    /// <inheritdoc />
    public bool Equals(Secret? other) =>
        other is not null && CryptographicOperations.FixedTimeEquals(
            MemoryMarshalBytes(_value), MemoryMarshalBytes(other._value));

    private static ReadOnlySpan<byte> MemoryMarshalBytes(string s) =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.AsSpan());

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Secret);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_value);

    /// <summary>Returns <c>secret:&lt;fingerprint&gt;</c>, never the token.</summary>
    public override string ToString() => "secret:" + Fingerprint;
}
