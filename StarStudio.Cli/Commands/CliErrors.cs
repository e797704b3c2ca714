using Spectre.Console;
using StarStudio.Model.Checkpoints;

namespace StarStudio.Cli.Commands;

/// <summary>Turns expected failures (bad input, bad files) into one clear line and exit code 2; no stack traces for users.</summary>
static class CliErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]Cancelled.[/]");
            return 130;
        }
        catch (Exception e) when (e is CheckpointException or ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
                                      or InvalidOperationException or NotSupportedException or FormatException
                                      or System.Runtime.InteropServices.ExternalException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
