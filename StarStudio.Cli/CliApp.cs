using System.CommandLine;
using StarStudio.Cli.Commands;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli;

/// <summary>The `starstudio` command line: generate, inspect, bench.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null)
    {
        TorchNativeLoader.Ensure();
        // Redirected output (logs, CI) would otherwise be cut to 80 columns and truncate the tables.
        if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160;
        var root = new RootCommand("StarStudio: run and understand scale-wise autoregressive image generators (STAR, VAR).");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        var config = new InvocationConfiguration();
        if (output is not null) config.Output = output;
        return await root.Parse(args).InvokeAsync(config);
    }
}
