using System.CommandLine;
using StarStudio.Cli.Commands;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli;

/// <summary>The `starstudio` command line: generate, inspect, bench, train, data, eval.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null)
    {
        TorchNativeLoader.Ensure();
        var root = new RootCommand("StarStudio: run and understand scale-wise autoregressive image generators (STAR, VAR).");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        var config = new InvocationConfiguration();
        if (output is not null) config.Output = output;
        return await root.Parse(args).InvokeAsync(config);
    }
}
