using System.CommandLine;

namespace StarStudio.Cli.Commands;

static class GivenOr
{
    /// <summary>The option's value when the user typed it, else <paramref name="fallback"/> (e.g. the model's recommended setting).</summary>
    public static T ValueOr<T>(this ParseResult p, Option<T> option, T fallback) =>
        p.GetResult(option) is { Implicit: false } ? p.GetValue(option)! : fallback;
}
