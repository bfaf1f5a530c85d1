namespace ActorRefresh.Core.Tests.Infrastructure;

/// <summary>Recognisable fake tokens, so "never in a message" assertions mean something.</summary>
public static class TestTokens
{
    public const string Refresh = "sk-ant-ort01-REFRESHsecretVALUE1234567890abcdef";
    public const string Access = "sk-ant-oat01-ACCESSsecretVALUE0987654321fedcba";
    public const string NewRefresh = "sk-ant-ort01-NEWrefreshSECRET555555555555555";

    /// <summary>Token-ish text without the sk-ant- shape, to check verbatim scrubbing rather than shape scrubbing.</summary>
    public const string Opaque = "opaqueTokenValueQwErTy1234567890";
}
