using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;
using ActorRefresh.Host.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Serilog.Extensions.Logging;

namespace ActorRefresh.Host.Tests;

public sealed class LogRedactionTests
{
    private const string OauthAccess = "sk-ant-oat01-AbCdEf_123-xyz";
    private const string OauthRefresh = "sk-ant-ort01-ReFrEsH_456-abc";
    private const string ApiKey = "sk-ant-api03-KEYKEYKEY_789";
    private const string Jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl";
    private const string Opaque = "opaque9f8e7d6c5b4a";
    private const string OpaqueRefresh = "opaqueRT1a2b3c4d";
    private const string OpaqueAfterBearer = "plainbearerCRED42";

    private static readonly string[] Leaks =
        [OauthAccess, OauthRefresh, ApiKey, Jwt, "eyJhbGciOiJIUzI1NiJ9", Opaque, OpaqueRefresh, OpaqueAfterBearer,
         "AbCdEf_123", "ReFrEsH_456", "KEYKEYKEY"];

    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    public void Careless_logging_never_writes_a_token(string formatName)
    {
        var format = formatName == "json" ? LogFormat.Json : LogFormat.Text;
        var output = new StringWriter();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?> { ["Serilog:MinimumLevel:Default"] = "Verbose" }).Build();
        using (var logger = LoggingSetup.CreateLogger(configuration, format, output))
        {
            var credentials = new AccountCredentials("acct", "claude", new Secret(OauthRefresh), new Secret(Opaque), DateTimeOffset.UnixEpoch);

            // Serilog directly.
            logger.Information("refreshing with " + OauthRefresh + " for {Account}", "acct");
            logger.Information("header was {Header}", "Bearer " + Opaque);
            logger.Information("Authorization: Bearer {Credential}", OpaqueAfterBearer);
            logger.Information("jwt {Jwt} and key {Key}", Jwt, ApiKey);
            logger.Information("credentials {@Credentials}", credentials);
            logger.Information("credentials {Credentials}", credentials);
            logger.Information("anonymous {@Payload}", new { AccessToken = Opaque, Nested = new { RefreshToken = OpaqueRefresh, Note = "ok " + ApiKey } });
            logger.Information("headers {@Headers}", new Dictionary<string, string> { ["Authorization"] = "Bearer " + Opaque, ["X-Api-Key"] = ApiKey });
            logger.Information("tokens {Tokens}", new List<string> { OauthAccess, Jwt });
            logger.Error(new InvalidOperationException("upstream said " + OauthAccess,
                new HttpRequestException("Bearer " + Opaque)), "refresh failed for {Account}", "acct");

            // Microsoft.Extensions.Logging routed to it, as the host does.
            using var factory = new SerilogLoggerFactory(logger);
            var mel = factory.CreateLogger("Careless.Developer");
#pragma warning disable CA2254, CA1848 // the point is a careless, interpolated message
            mel.LogWarning($"got {OauthAccess} and {Jwt}");
            mel.LogInformation("token {AccessToken} refresh {RefreshToken}", Opaque, OpaqueRefresh);
            mel.LogInformation("status {@Status}", new AccessToken(new Secret(OauthAccess), DateTimeOffset.UnixEpoch));
            mel.LogError(new InvalidOperationException($"bad grant {OauthRefresh}"), "failed");
#pragma warning restore CA2254, CA1848
        }

        var text = output.ToString();
        foreach (var leak in Leaks)
            Assert.DoesNotContain(leak, text, StringComparison.Ordinal);
        Assert.Contains("[redacted]", text, StringComparison.Ordinal);
        // A destructured Secret keeps its fingerprint, even under a credential-like property name.
        Assert.Contains("\"RefreshToken\":\"secret:" + Secret.FingerprintOf(OauthRefresh) + "\"", text, StringComparison.Ordinal);
        Assert.Contains("\"Value\":\"secret:" + Secret.FingerprintOf(OauthAccess) + "\"", text, StringComparison.Ordinal);
        Assert.Contains("refresh failed for", text, StringComparison.Ordinal);
        Assert.Contains("InvalidOperationException", text, StringComparison.Ordinal); // exception kept, minus its tokens
        Assert.Contains("acct", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_format_writes_one_compact_object_per_event()
    {
        var output = new StringWriter();
        using (var logger = LoggingSetup.CreateLogger(new ConfigurationBuilder().Build(), LogFormat.Json, output))
            logger.Information("hello {Name}", "world");
        var line = output.ToString().Trim();
        Assert.StartsWith("{\"@t\":", line, StringComparison.Ordinal);
        Assert.Contains("\"Name\":\"world\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Levels_come_from_configuration()
    {
        var output = new StringWriter();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Serilog:MinimumLevel:Default"] = "Warning",
            ["Serilog:MinimumLevel:Override:Chatty"] = "Error",
        }).Build();
        using (var logger = LoggingSetup.CreateLogger(configuration, LogFormat.Text, output))
        {
            logger.Information("hidden-info");
            logger.Warning("shown-warning");
            logger.ForContext(Serilog.Core.Constants.SourceContextPropertyName, "Chatty.Thing").Warning("hidden-chatty");
        }
        var text = output.ToString();
        Assert.DoesNotContain("hidden", text, StringComparison.Ordinal);
        Assert.Contains("shown-warning", text, StringComparison.Ordinal);
    }
}
