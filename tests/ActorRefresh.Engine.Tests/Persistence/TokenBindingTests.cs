using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.Persistence;
using ActorRefresh.Engine.Tests.Support;
using Akka.Actor;
using Xunit.Abstractions;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>
/// A stored token ciphertext is bound to its field and names the key that made it: someone who can write the store
/// cannot move a refresh token into an access-token field (to read it through <c>/token</c>), a wrong key is named as
/// such, and fields written before the binding (<c>v1:</c>) are still read.
/// </summary>
public sealed class TokenBindingTests(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(new EngineTestStore().Config, output: output)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] LegacyKey = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    // Written in the v1 format (AES-256-GCM, associated data "ActorRefresh.token.v1") with LegacyKey.
    private const string LegacyAccess = "v1:AQEBAQEBAQEBAQEBBKjIVAbxRQm1IFcpNSsXn4ot1vbQwFWZoIgbHT8EHSnV9nsNwl5peinB";
    private const string LegacyRefresh = "v1:AgICAgICAgICAgIC6EM02tetHDS58ZLJHjWfVF2q9kHGET6jBw2Z9Uu+gPdhUDP6N7bBV3n/+Q==";

    private AccountEventSerializer Serializer(byte[] key) => new((ExtendedActorSystem)Sys, key);

    [Fact]
    public void A_refresh_token_moved_into_the_access_token_field_is_refused()
    {
        var serializer = Serializer(RandomNumberGenerator.GetBytes(32));
        var json = JsonNode.Parse(serializer.ToBinary(new TokensRefreshed(new Secret("sk-ant-oat01-A"), T0, new Secret("sk-ant-ort01-R"), T0)))!;
        json["accessToken"] = json["refreshToken"]!.GetValue<string>();
        var tampered = Encoding.UTF8.GetBytes(json.ToJsonString());

        var error = Assert.ThrowsAny<Exception>(() => serializer.FromBinary(tampered, "tr"));
        Assert.Contains("accessToken", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_key_is_named_by_its_key_id()
    {
        var right = RandomNumberGenerator.GetBytes(32);
        var wrong = RandomNumberGenerator.GetBytes(32);
        var bytes = Serializer(right).ToBinary(new TokensRefreshed(new Secret("sk-ant-oat01-A"), T0, null, T0));
        Assert.Contains($"v3:{TokenCipher.KeyIdOf(right)}:", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);

        var error = Assert.ThrowsAny<Exception>(() => Serializer(wrong).FromBinary(bytes, "tr"));
        var message = error.GetBaseException().Message;
        Assert.Contains(TokenCipher.KeyIdOf(right), message, StringComparison.Ordinal);
        Assert.Contains(TokenCipher.KeyIdOf(wrong), message, StringComparison.Ordinal);
        Assert.Contains("EncryptionKey", message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Fields_written_in_the_v1_format_are_still_read_and_written_back_bound()
    {
        var serializer = Serializer(LegacyKey);
        var legacy = Encoding.UTF8.GetBytes(
            $$"""{"accessToken":"{{LegacyAccess}}","expiresAt":"2026-11-23T20:00:00+00:00","refreshToken":"{{LegacyRefresh}}","at":"2026-11-23T12:00:00+00:00"}""");
        var read = Assert.IsType<TokensRefreshed>(serializer.FromBinary(legacy, "tr"));
        Assert.Equal("sk-ant-oat01-LEGACY-ACCESS", read.AccessToken.Reveal());
        Assert.Equal("sk-ant-ort01-LEGACY-REFRESH", read.RefreshToken!.Reveal());

        var rewritten = Encoding.UTF8.GetString(serializer.ToBinary(read));
        Assert.DoesNotContain("v1:", rewritten, StringComparison.Ordinal);
        Assert.Equal(read, serializer.FromBinary(Encoding.UTF8.GetBytes(rewritten), "tr"));
    }

    [Fact]
    public void Fields_written_in_the_v2_format_without_an_account_are_still_read_and_written_back_bound()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var serializer = Serializer(key);
        var legacy = Encoding.UTF8.GetBytes(
            $$"""{"accessToken":"{{V2(key, "accessToken", "sk-ant-oat01-V2")}}","expiresAt":"2026-11-23T20:00:00+00:00","at":"2026-11-23T12:00:00+00:00"}""");
        var read = Assert.IsType<TokensRefreshed>(serializer.FromBinary(legacy, "tr"));
        Assert.Equal("sk-ant-oat01-V2", read.AccessToken.Reveal());

        var rewritten = Encoding.UTF8.GetString(serializer.ToBinary(read with { AccountId = "a1" }));
        Assert.Contains($"v3:{TokenCipher.KeyIdOf(key)}:", rewritten, StringComparison.Ordinal);
        Assert.DoesNotContain("v2:", rewritten, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ciphertext_copied_into_another_accounts_event_is_refused_naming_the_account()
    {
        var serializer = Serializer(RandomNumberGenerator.GetBytes(32));
        var a = JsonNode.Parse(serializer.ToBinary(new TokensRefreshed(new Secret("sk-ant-oat01-A"), T0, null, T0) { AccountId = "a" }))!;
        var b = JsonNode.Parse(serializer.ToBinary(new TokensRefreshed(new Secret("sk-ant-oat01-B"), T0, null, T0) { AccountId = "b" }))!;
        b["accessToken"] = a["accessToken"]!.GetValue<string>();

        var error = Assert.ThrowsAny<Exception>(() => serializer.FromBinary(Encoding.UTF8.GetBytes(b.ToJsonString()), "tr"));
        Assert.Contains("account 'b'", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant", error.ToString(), StringComparison.Ordinal);
        // Dropping the account id does not help either: the ciphertext is bound to 'a'.
        a.AsObject().Remove("accountId");
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary(Encoding.UTF8.GetBytes(a.ToJsonString()), "tr"));
    }

    // A field as the previous format wrote it: associated data "ActorRefresh.token.v2|<key id>|<field>".
    private static string V2(byte[] key, string field, string token)
    {
        var plain = Encoding.UTF8.GetBytes(token);
        var output = new byte[12 + plain.Length + 16];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(output.AsSpan(0, 12), plain, output.AsSpan(12, plain.Length), output.AsSpan(12 + plain.Length),
            Encoding.UTF8.GetBytes($"ActorRefresh.token.v2|{TokenCipher.KeyIdOf(key)}|{field}"));
        return $"v2:{TokenCipher.KeyIdOf(key)}:" + Convert.ToBase64String(output);
    }

    [Fact]
    public void The_key_id_reveals_nothing_of_the_key_and_is_stable()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(TokenCipher.KeyIdOf(key), TokenCipher.KeyIdOf((byte[])key.Clone()));
        Assert.Matches("^[0-9a-f]{8}$", TokenCipher.KeyIdOf(key));
        Assert.DoesNotContain(Convert.ToHexStringLower(key)[..8], TokenCipher.KeyIdOf(key), StringComparison.Ordinal);
    }
}
