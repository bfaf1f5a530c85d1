using System.Net;
using System.Text.Json;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Host.Tests;

/// <summary>
/// Problem answers come from ASP.NET Core's problem details service and exception handler: every one carries the
/// request's trace id, so an operator can find the log lines of the request a caller reports.
/// </summary>
public sealed class ProblemDetailsTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string Secret = "sk-ant-oat01-SECRET-in-an-exception-0000";

    private static HttpRequestMessage Traced(HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("traceparent", $"00-{TraceId}-00f067aa0ba902b7-01");
        return request;
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task A_mapped_failure_carries_the_trace_id_of_the_request()
    {
        await using var server = await BrokerServer.StartAsync();

        var problem = await ProblemAsync(await server.Client.SendAsync(Traced(HttpMethod.Get, "v1/accounts/ghost/token")), HttpStatusCode.NotFound);

        Assert.Contains(TraceId, problem.GetProperty("traceId").GetString(), StringComparison.Ordinal);
        Assert.Equal("ghost", problem.GetProperty("accountId").GetString());
    }

    [Fact]
    public async Task A_refused_key_carries_the_trace_id_too()
    {
        await using var server = await BrokerServer.StartAsync();

        var problem = await ProblemAsync(await server.Anonymous.SendAsync(Traced(HttpMethod.Get, "v1/accounts")), HttpStatusCode.Unauthorized);

        Assert.Contains(TraceId, problem.GetProperty("traceId").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unexpected_failure_is_a_bare_500_whose_trace_id_is_in_the_log_line_and_no_secret_anywhere()
    {
        await using var server = await BrokerServer.StartAsync();
        await server.Tokens.RegisterAsync(new AccountCredentials("alice", "claude", new Secret("sk-ant-ort01-R-0000"),
            new Secret("sk-ant-oat01-A-0000"), BrokerServer.Now.AddHours(1)));
        server.Tokens.UnexpectedFailure = new InvalidOperationException($"the store said {Secret}");

        var response = await server.Client.SendAsync(Traced(HttpMethod.Get, "v1/accounts/alice/token"));
        var body = await response.Content.ReadAsStringAsync();
        var problem = await ProblemAsync(response, HttpStatusCode.InternalServerError);

        Assert.DoesNotContain(Secret, body, StringComparison.Ordinal);
        Assert.DoesNotContain("the store said", body, StringComparison.Ordinal);
        Assert.Equal("The server failed to answer; see its log.", problem.GetProperty("reason").GetString());
        Assert.Contains(TraceId, problem.GetProperty("traceId").GetString(), StringComparison.Ordinal);
        var log = server.Log.ToString();
        var line = Assert.Single(log.Split('\n'), l => l.Contains("Unhandled failure", StringComparison.Ordinal));
        Assert.Contains(TraceId, line, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, log, StringComparison.Ordinal);
    }
}
