using System.CommandLine;
using Spectre.Console;
using StarStudio.Cli.Commands;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli;

/// <summary>The `starstudio` command line: generate, inspect, bench, models, convert, estimate.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null)
    {
        TorchNativeLoader.Ensure();
        // Spectre binds to the Console.Out of its first use; rebind per run so in-process callers (tests, hosts) that
        // redirect Console.Out get the tables too.
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        var root = new RootCommand("StarStudio: run and understand scale-wise autoregressive image generators (STAR, VAR).");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(EstimateCommand.Create());
        var config = new InvocationConfiguration();
        if (output is not null) config.Output = output;
        return await root.Parse(args).InvokeAsync(config);
    }
}
