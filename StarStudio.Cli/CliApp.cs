using System.CommandLine;
using Spectre.Console;
using StarStudio.Cli.Commands;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli;

/// <summary>The `starstudio` command line: generate, inspect, bench, models, convert, estimate, train, data, eval, probe.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null)
    {
        TorchNativeLoader.Ensure();
        // Bind Spectre's console to the current standard output (tests and hosts may have redirected it) and give
        // redirected output (logs, CI) room for the tables instead of 80 columns.
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output ?? Console.Out),
        });
        if (Console.IsOutputRedirected || output is not null) AnsiConsole.Profile.Width = 160;
        var root = new RootCommand("StarStudio: run and understand scale-wise autoregressive image generators (STAR, VAR).");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(EstimateCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(ProbeCommand.Create());
        var config = new InvocationConfiguration();
        if (output is not null) config.Output = output;
        return await root.Parse(args).InvokeAsync(config);
    }
}
