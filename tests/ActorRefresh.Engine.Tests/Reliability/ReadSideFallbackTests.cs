using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Engine.ReadSide;
using Microsoft.Extensions.Time.Testing;

namespace ActorRefresh.Engine.Tests.Reliability;

/// <summary>The token served while an account's actor is down (store outage): only one the account would still serve.</summary>
public sealed class ReadSideFallbackTests
{
    private static readonly TimeSpan MinimumValidity = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly AccountReadSide _readSide;
    private readonly AccessToken _token;

    public ReadSideFallbackTests()
    {
        _readSide = new AccountReadSide(_time);
        _token = new AccessToken(new Secret("sk-ant-oat01-fallback"), _time.GetUtcNow().AddMinutes(10));
        _readSide.PublishToken("a1", _token, _token.ExpiresAt.AddMinutes(-5));
        _readSide.PublishStatus(Status(AccountState.Valid, _token.ExpiresAt));
    }

    [Fact]
    public void A_token_past_its_refresh_point_but_still_valid_is_the_fallback()
    {
        _time.Advance(TimeSpan.FromMinutes(7)); // past the refresh point: no longer fresh
        _readSide.WithdrawToken("a1");
        Assert.False(_readSide.TryGetFreshToken("a1", out _));
        Assert.True(_readSide.TryGetStillValidToken("a1", MinimumValidity, out var token));
        Assert.Same(_token, token);

        _time.Advance(TimeSpan.FromMinutes(2.6)); // less than the minimum validity left
        Assert.False(_readSide.TryGetStillValidToken("a1", MinimumValidity, out _));
    }

    [Fact]
    public void No_fallback_once_blocked_removed_rejected_or_replaced_without_an_access_token()
    {
        _readSide.PublishStatus(Status(AccountState.PolicyBlocked, _token.ExpiresAt));
        Assert.False(_readSide.TryGetStillValidToken("a1", MinimumValidity, out _));

        _readSide.PublishToken("a2", _token, _token.ExpiresAt);
        _readSide.PublishStatus(Status(AccountState.Valid, _token.ExpiresAt, "a2"));
        _readSide.DropRejected("a2", _token.Value.Fingerprint);
        Assert.False(_readSide.TryGetStillValidToken("a2", MinimumValidity, out _));

        _readSide.PublishToken("a3", _token, _token.ExpiresAt);
        _readSide.PublishStatus(Status(AccountState.Valid, null, "a3")); // new credentials without an access token
        Assert.False(_readSide.TryGetStillValidToken("a3", MinimumValidity, out _));

        _readSide.PublishToken("a4", _token, _token.ExpiresAt);
        _readSide.PublishStatus(Status(AccountState.BackingOff, _token.ExpiresAt, "a4"));
        Assert.True(_readSide.TryGetStillValidToken("a4", MinimumValidity, out _));
        _readSide.Forget("a4");
        Assert.False(_readSide.TryGetStillValidToken("a4", MinimumValidity, out _));
    }

    private static AccountStatus Status(AccountState state, DateTimeOffset? expiresAt, string id = "a1") =>
        new(id, "claude", state, expiresAt, null, null, null, null, false, AccountCounters.Zero, 1);
}
