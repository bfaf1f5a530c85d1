using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using ActorRefresh.Core.Tokens;
using ActorRefresh.Engine.Accounts;

namespace ActorRefresh.Engine.Tests.Persistence;

/// <summary>
/// Builds a value of any message or event type by reflection (every constructor parameter gets a non-default sample),
/// and describes a value as JSON with tokens in clear, so a round trip can be compared field by field.
/// </summary>
internal static class SampleValues
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static readonly JsonSerializerOptions Plain = new()
    {
        Converters = { new RevealingSecretConverter(), new JsonStringEnumConverter() },
        IncludeFields = false,
    };

    /// <summary>Types a constructor cannot build meaningfully.</summary>
    private static readonly Dictionary<Type, Func<object>> Known = new()
    {
        [typeof(AccountData)] = () => AccountData.Empty("a1")
            .Apply(new AccountRegistered("claude", new Secret("sk-ant-ort01-rt"), new Secret("sk-ant-oat01-at"), T0.AddHours(8), null, T0))
            .Apply(new QuotaRecorded(91, T0.AddHours(1), 40, T0.AddDays(2), T0)),
    };

    public static object Of(Type type) => Build(type, 0);

    public static string Describe(object value) => JsonSerializer.Serialize(value, value.GetType(), Plain);

    private static object Build(Type type, int depth)
    {
        if (depth > 8) throw new InvalidOperationException($"Cannot build a sample of {type.Name}: nested too deeply.");
        if (Known.TryGetValue(type, out var known)) return known();
        if (Nullable.GetUnderlyingType(type) is { } underlying) return Build(underlying, depth + 1);
        if (type == typeof(string)) return "a1";
        if (type == typeof(int)) return 7;
        if (type == typeof(long)) return 42L;
        if (type == typeof(bool)) return true;
        if (type == typeof(double)) return 12.5;
        if (type == typeof(DateTimeOffset)) return T0;
        if (type == typeof(TimeSpan)) return TimeSpan.FromSeconds(5);
        if (type == typeof(Guid)) return new Guid("0f8fad5b-d9cb-469f-a165-70867728950e");
        if (type == typeof(Secret)) return new Secret("sk-ant-oat01-sample");
        if (type.IsEnum)
        {
            var values = Enum.GetValues(type);
            return values.GetValue(values.Length - 1)!;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(KeyValuePair<,>))
        {
            var args = type.GetGenericArguments();
            return Activator.CreateInstance(type, Build(args[0], depth + 1), Build(args[1], depth + 1))!;
        }
        if (type.IsArray)
        {
            var array = Array.CreateInstance(type.GetElementType()!, 1);
            array.SetValue(Build(type.GetElementType()!, depth + 1), 0);
            return array;
        }
        if (type.IsGenericType && type.GetGenericArguments().Length == 1 && typeof(System.Collections.IEnumerable).IsAssignableFrom(type))
        {
            var element = type.GetGenericArguments()[0];
            var list = (System.Collections.IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            list.Add(Build(element, depth + 1));
            return list;
        }
        if (type.GetProperty("Instance", BindingFlags.Public | BindingFlags.Static) is { } instance && instance.PropertyType == type)
            return instance.GetValue(null)!;

        var constructor = type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .Where(c => c.GetParameters() is not [{ } only] || only.ParameterType != type) // not a record's copy constructor
            .OrderByDescending(c => c.GetParameters().Length)
            .FirstOrDefault()
            ?? throw new InvalidOperationException($"Cannot build a sample of {type.Name}: no constructor; add it to SampleValues.Known.");
        return constructor.Invoke(constructor.GetParameters().Select(p => Build(p.ParameterType, depth + 1)).ToArray());
    }

    private sealed class RevealingSecretConverter : JsonConverter<Secret>
    {
        public override Secret Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(reader.GetString()!);

        public override void Write(Utf8JsonWriter writer, Secret value, JsonSerializerOptions options) => writer.WriteStringValue(value.Reveal());
    }
}
