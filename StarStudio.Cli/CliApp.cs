using System.CommandLine;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli;

/// <summary>The `starstudio` command line: generate, inspect, bench.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args)
    {
        TorchNativeLoader.Ensure();
        var root = new RootCommand("StarStudio: run and understand scale-wise autoregressive image generators (STAR, VAR).");
        return await root.Parse(args).InvokeAsync();
    }
}
