using System.Diagnostics.CodeAnalysis;
using ActorRefresh.Core.Tokens;
using Serilog.Core;
using Serilog.Events;

namespace ActorRefresh.Host.Logging;

/// <summary>Destructures a <see cref="Secret"/> (also inside a logged record) to its fingerprint only.</summary>
internal sealed class SecretDestructuringPolicy : IDestructuringPolicy
{
    public bool TryDestructure(object value, ILogEventPropertyValueFactory propertyValueFactory,
        [NotNullWhen(true)] out LogEventPropertyValue? result)
    {
        if (value is Secret secret)
        {
            result = new ScalarValue("secret:" + secret.Fingerprint);
            return true;
        }
        result = null;
        return false;
    }
}
