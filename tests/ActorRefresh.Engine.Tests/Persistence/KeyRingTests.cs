using System.Security.Cryptography;
using System.Text;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Persistence;
using ActorRefresh.Engine.Tests.Support;
using Akka.Actor;
using Xunit.Abstractions;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>
/// Key rotation: the current key encrypts, previous keys only decrypt (found by the field's key id), and a payload read
/// under a previous key or an older format marks its account for a rewrite under the current key.
/// </summary>
public sealed class KeyRingTests(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(new EngineTestStore().Config, output: output)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] LegacyKey = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    // Written in the v1 format (no key id) with LegacyKey; see TokenBindingTests.
    private const string LegacyAccess = "v1:AQEBAQEBAQEBAQEBBKjIVAbxRQm1IFcpNSsXn4ot1vbQwFWZoIgbHT8EHSnV9nsNwl5peinB";

    [Fact]
    public void A_previous_key_decrypts_its_fields_and_only_the_current_key_encrypts()
    {
        var a = RandomNumberGenerator.GetBytes(32);
        var b = RandomNumberGenerator.GetBytes(32);
        var underA = new TokenCipher(a).Encrypt("sk-ant-oat01-A", "accessToken", "acc");

        var ring = new TokenCipher(b, [a]);
        Assert.Equal("sk-ant-oat01-A", ring.Decrypt(underA, "accessToken", "acc", out var current));
        Assert.False(current); // under a previous key: its row is to be rewritten

        var rewritten = ring.Encrypt("sk-ant-oat01-A", "accessToken", "acc");
        Assert.StartsWith($"v3:{TokenCipher.KeyIdOf(b)}:", rewritten, StringComparison.Ordinal);
        Assert.Equal("sk-ant-oat01-A", ring.Decrypt(rewritten, "accessToken", "acc", out current));
        Assert.True(current);
        // B alone reads what the ring wrote; A's binding to account and field still holds under a previous key.
        Assert.Equal("sk-ant-oat01-A", new TokenCipher(b).Decrypt(rewritten, "accessToken", "acc"));
        Assert.ThrowsAny<CryptographicException>(() => ring.Decrypt(underA, "refreshToken", "acc"));
        Assert.ThrowsAny<CryptographicException>(() => ring.Decrypt(underA, "accessToken", "other"));
    }

    [Fact]
    public void A_key_id_outside_the_ring_is_refused_naming_every_configured_id_and_no_token()
    {
        var a = RandomNumberGenerator.GetBytes(32);
        var b = RandomNumberGenerator.GetBytes(32);
        var c = RandomNumberGenerator.GetBytes(32);
        var underA = new TokenCipher(a).Encrypt("sk-ant-oat01-A", "accessToken", "acc");

        var error = Assert.ThrowsAny<CryptographicException>(() => new TokenCipher(c, [b]).Decrypt(underA, "accessToken", "acc"));
        Assert.Contains($"key id {TokenCipher.KeyIdOf(a)}", error.Message, StringComparison.Ordinal);
        Assert.Contains(TokenCipher.KeyIdOf(c), error.Message, StringComparison.Ordinal);
        Assert.Contains($"previous keys: {TokenCipher.KeyIdOf(b)}", error.Message, StringComparison.Ordinal);
        Assert.Contains("PreviousEncryptionKeys", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_v1_field_without_key_id_is_read_with_whichever_key_of_the_ring_made_it()
    {
        var ring = new TokenCipher(RandomNumberGenerator.GetBytes(32), [RandomNumberGenerator.GetBytes(32), LegacyKey]);
        Assert.Equal("sk-ant-oat01-LEGACY-ACCESS", ring.Decrypt(LegacyAccess, "accessToken", "", out var current));
        Assert.False(current);
        Assert.ThrowsAny<CryptographicException>(() => new TokenCipher(RandomNumberGenerator.GetBytes(32)).Decrypt(LegacyAccess, "accessToken", ""));
    }

    [Fact]
    public void Reading_an_event_under_a_previous_key_marks_its_account_for_a_rewrite_once()
    {
        var a = RandomNumberGenerator.GetBytes(32);
        var b = RandomNumberGenerator.GetBytes(32);
        var refreshed = new TokensRefreshed(new Secret("sk-ant-oat01-A"), T0, new Secret("sk-ant-ort01-R"), T0) { AccountId = "acc" };
        var underA = new AccountEventSerializer((ExtendedActorSystem)Sys, a).ToBinary(refreshed);
        var ring = new AccountEventSerializer((ExtendedActorSystem)Sys, b, [a]);

        var read = Assert.IsType<TokensRefreshed>(ring.FromBinary(underA, "tr"));
        Assert.Equal("sk-ant-ort01-R", read.RefreshToken!.Reveal());
        Assert.True(ring.TakeStale("acc"));
        Assert.False(ring.TakeStale("acc")); // taken

        ring.FromBinary(ring.ToBinary(read), "tr");
        Assert.False(ring.TakeStale("acc")); // under the current key: nothing to rewrite
        Assert.Contains($"v3:{TokenCipher.KeyIdOf(b)}:", Encoding.UTF8.GetString(ring.ToBinary(read)), StringComparison.Ordinal);
    }
}
