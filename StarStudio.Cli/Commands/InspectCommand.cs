using System.CommandLine;
using Spectre.Console;
using StarStudio.Model.Checkpoints;

namespace StarStudio.Cli.Commands;

static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A .safetensors, .pth or .bin checkpoint." };
        var limit = new Option<int>("--limit") { Description = "Show at most this many tensors (0 = all).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("inspect", "List a checkpoint's tensors (keys, shapes, dtypes) and its parameter count, without executing anything in it.");
        cmd.Arguments.Add(file);
        cmd.Options.Add(limit);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var report = CheckpointInspector.Inspect(p.GetValue(file)!);
            int max = p.GetValue(limit);
            var table = new Table().AddColumns("key", "shape", "dtype", "bytes");
            foreach (var t in max > 0 ? report.Tensors.Take(max) : report.Tensors)
                table.AddRow(Markup.Escape(t.Key), Markup.Escape($"[{string.Join(", ", t.Shape)}]"), Markup.Escape(t.DType), $"{t.ByteSize:N0}");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"{report.Tensors.Count} tensors, [bold]{report.ParameterCount:N0}[/] parameters ({report.ParameterCount / 1e6:F1} M)");
            foreach (var ph in report.Placeholders)
                AnsiConsole.MarkupLine($"[grey]not loaded (inert placeholder): {Markup.Escape(ph.KeyPath)} = {Markup.Escape(ph.Global)}[/]");
            return 0;
        }));
        return cmd;
    }
}
