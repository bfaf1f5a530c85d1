using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FsCheck.Xunit;

namespace ActorRefresh.Host.Tests.Reliability;

/// <summary>
/// Random JSON and random bytes to every POST endpoint of a real in-process serve: never a 500, never a crash, and no
/// partial write (a refused registration or import leaves no account behind; a refused command changes no state).
/// </summary>
public sealed class HostileBodyProperties(ServeFixture serve) : IClassFixture<ServeFixture>
{
    private const string Known = "hostile-known";
    private static readonly string[] Fields = ["id", "provider", "refreshToken", "accessToken", "expiresAt", "reason", "claudeAiOauth", "__proto__", "", "ID", "$type"];
    private static int _imports;

    [Property(MaxTest = 200)]
    public bool Random_json_or_bytes_to_any_post_endpoint_never_500_and_never_half_write(
        byte[]? raw, string?[]? keys, string?[]? values, int[]? shapes, bool useRaw, byte endpoint, int cut)
    {
        return RunAsync(raw, keys ?? [], values ?? [], shapes ?? [], useRaw, endpoint, cut).GetAwaiter().GetResult();
    }

    [Theory]
    [InlineData("v1/import/claude?id=hostile-surrogate", "{\"claudeAiOauth\":{\"accessToken\":\"\\ud800\",\"refreshToken\":\"\\udc00x\",\"expiresAt\":1}}")]
    [InlineData("v1/accounts", "{\"id\":\"hostile-surrogate\",\"provider\":\"claude\",\"refreshToken\":\"\\ud800\"}")]
    [InlineData("v1/accounts", "{\"id\":\"hostile-deep\",\"provider\":" + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" + "}")]
    public async Task Lone_surrogates_and_deep_nesting_are_400s(string path, string body)
    {
        var response = await serve.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain(await AccountIdsAsync(), id => id.StartsWith("hostile-surrogate", StringComparison.Ordinal) || id == "hostile-deep");
    }

    private async Task<bool> RunAsync(byte[]? raw, string?[] keys, string?[] values, int[] shapes, bool useRaw, byte endpoint, int cut)
    {
        var client = serve.Client;
        await EnsureKnownAsync();
        var body = useRaw && raw is not null ? raw : Encoding.UTF8.GetBytes(BuildJson(keys, values, shapes, cut));
        var importId = $"hostile-imp-{Interlocked.Increment(ref _imports)}";
        var path = (endpoint % 6) switch
        {
            0 => "v1/accounts",
            1 => $"v1/accounts/{Known}/rejected",
            2 => $"v1/accounts/{Known}/block",
            3 => $"v1/import/claude?id={importId}",
            4 => $"v1/import/claude?id={importId}&sync=true&path={Uri.EscapeDataString(Path.Combine(serve.Directory, "no-such-dir", "c.json"))}",
            _ => $"v1/accounts/{Known}/refresh",
        };

        var accountsBefore = await AccountIdsAsync();
        var knownBefore = await SettledStatusAsync();
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await client.PostAsync(path, content);
        var status = (int)response.StatusCode;
        Assert.True(status < 500, $"POST {path} answered {status}: {await response.Content.ReadAsStringAsync()}");

        var accountsAfter = await AccountIdsAsync();
        var added = accountsAfter.Except(accountsBefore).ToList();
        if (endpoint % 6 is 0 or 3 or 4)
        {
            // Exactly one account more after a success, none after a refusal.
            Assert.True(response.IsSuccessStatusCode ? added.Count == 1 : added.Count == 0,
                $"POST {path} answered {status} and added [{string.Join(", ", added)}]");
        }
        else
        {
            Assert.Empty(added);
            if (!response.IsSuccessStatusCode)
            {
                var knownAfter = await client.GetFromJsonAsync<JsonElement>($"v1/accounts/{Known}");
                Assert.Equal(knownBefore.GetProperty("version").GetInt64(), knownAfter.GetProperty("version").GetInt64());
            }
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("healthz")).StatusCode);
        return true;
    }

    /// <summary>The known account's status once an earlier forced refresh (a previous case) has finished.</summary>
    private async Task<JsonElement> SettledStatusAsync()
    {
        var last = await serve.Client.GetFromJsonAsync<JsonElement>($"v1/accounts/{Known}");
        for (var i = 0; i < 200; i++)
        {
            await Task.Delay(10);
            var now = await serve.Client.GetFromJsonAsync<JsonElement>($"v1/accounts/{Known}");
            if (now.GetProperty("state").GetString() != "Refreshing" && now.GetProperty("version").GetInt64() == last.GetProperty("version").GetInt64())
                return now;
            last = now;
        }
        return last;
    }

    private async Task EnsureKnownAsync()
    {
        if ((await serve.Client.GetAsync($"v1/accounts/{Known}")).StatusCode != HttpStatusCode.NotFound) return;
        var issued = serve.Server.CreateAccount(Known);
        var created = await serve.Client.PostAsJsonAsync("v1/accounts", new
        {
            id = Known,
            provider = "claude",
            refreshToken = issued.RefreshToken,
            accessToken = issued.AccessToken,
            expiresAt = DateTimeOffset.UtcNow.AddHours(2),
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
    }

    private async Task<HashSet<string>> AccountIdsAsync()
    {
        var list = await serve.Client.GetFromJsonAsync<JsonElement>("v1/accounts");
        return list.EnumerateArray().Select(a => a.GetProperty("accountId").GetString()!).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>A JSON-looking object built from the generated parts; often malformed on purpose.</summary>
    private static string BuildJson(string?[] keys, string?[] values, int[] shapes, int cut)
    {
        var text = new StringBuilder("{");
        var n = Math.Min(Math.Max(keys.Length, shapes.Length), 8);
        for (var i = 0; i < n; i++)
        {
            var shape = shapes.Length > i ? shapes[i] : i;
            var value = values.Length > i ? values[i] : null;
            var key = shape % 3 == 0 || keys.Length <= i ? Fields[Math.Abs(shape % Fields.Length)] : keys[i] ?? "";
            if (i > 0) text.Append(',');
            text.Append(JsonSerializer.Serialize(key)).Append(':');
            text.Append(Math.Abs(shape % 11) switch
            {
                0 => JsonSerializer.Serialize(value),
                1 => shape.ToString(System.Globalization.CultureInfo.InvariantCulture),
                2 => "null",
                3 => "true",
                4 => $$"""{"accessToken":{{JsonSerializer.Serialize(value)}},"refreshToken":{{JsonSerializer.Serialize(value ?? "rt")}},"expiresAt":{{shape}}}""",
                5 => $"[{JsonSerializer.Serialize(value)},{shape}]",
                6 => "\"claude\"",
                7 => value ?? "",
                8 => shape % 2 == 0 ? "1e400" : "-99999999999999999999999999",
                9 when shape % 4 == 1 => "\"\\ud800\"", // a lone surrogate escape
                _ => "\"2099-01-01T00:00:00Z\"",
            });
        }
        text.Append('}');
        var json = text.ToString();
        return cut % 5 == 1 && json.Length > 1 ? json[..(Math.Abs(cut) % json.Length)] : json;
    }
}
