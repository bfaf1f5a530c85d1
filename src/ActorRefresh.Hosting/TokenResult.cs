using System.Diagnostics.CodeAnalysis;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Hosting;

/// <summary>
/// The answer of <see cref="ITokenProvider.TryGetTokenAsync"/>: a token, or the typed failure that says why there is none
/// (<see cref="TokenBackingOffException"/> with its retry time, <see cref="AccountBlockedException"/> with its reason,
/// <see cref="AccountNotFoundException"/>, <see cref="EngineUnavailableException"/>). Neither holds a token in its text.
/// </summary>
public sealed class TokenResult
{
    private TokenResult(AccessToken? token, ActorRefreshException? error) => (Token, Error) = (token, error);

    /// <summary>The token, when <see cref="Succeeded"/>.</summary>
    public AccessToken? Token { get; }

    /// <summary>Why there is no token, when not <see cref="Succeeded"/>.</summary>
    public ActorRefreshException? Error { get; }

    /// <summary>True when <see cref="Token"/> holds a valid access token.</summary>
    [MemberNotNullWhen(true, nameof(Token))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Succeeded => Token is not null;

    /// <summary>A result that carries <paramref name="token"/>.</summary>
    public static TokenResult Success(AccessToken token) => new(token ?? throw new ArgumentNullException(nameof(token)), null);

    /// <summary>A result that carries the failure <paramref name="error"/>.</summary>
    public static TokenResult Failure(ActorRefreshException error) => new(null, error ?? throw new ArgumentNullException(nameof(error)));

    /// <summary>The result of <paramref name="pending"/>: synchronous when it already completed with a token.</summary>
    internal static ValueTask<TokenResult> Of(ValueTask<AccessToken> pending) =>
        pending.IsCompletedSuccessfully ? ValueTask.FromResult(Success(pending.Result)) : new ValueTask<TokenResult>(AwaitAsync(pending));

    private static async Task<TokenResult> AwaitAsync(ValueTask<AccessToken> pending)
    {
        try
        {
            return Success(await pending.ConfigureAwait(false));
        }
        catch (ActorRefreshException e)
        {
            return Failure(e);
        }
    }

    /// <summary>The outcome without the token: its expiry, or the failure's message.</summary>
    public override string ToString() => Succeeded ? $"token valid until {Token.ExpiresAt:O}" : $"{Error.GetType().Name}: {Error.Message}";
}
