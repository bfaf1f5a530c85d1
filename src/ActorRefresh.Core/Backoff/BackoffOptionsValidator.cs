using Microsoft.Extensions.Options;

namespace ActorRefresh.Core.Backoff;

/// <summary>Start-up validation of <see cref="BackoffOptions"/>; messages name the configuration keys.</summary>
internal sealed class BackoffOptionsValidator : IValidateOptions<BackoffOptions>
{
    public ValidateOptionsResult Validate(string? name, BackoffOptions options)
    {
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
