using System.CommandLine;
using Spectre.Console;
using StarStudio.Model.Shapes;

namespace StarStudio.Cli.Commands;

/// <summary>`starstudio data preview`: a contact sheet of ShapesWorld samples with their captions.</summary>
static class DataCommand
{
    public static Command Create()
    {
        var cmd = new Command("data", "The ShapesWorld data set the embedded model is trained on.");
        var preview = new Command("preview", "Write a contact sheet PNG of samples with their captions.");
        var output = new Option<string>("--out", "-o") { Description = "Output PNG.", DefaultValueFactory = _ => "shapes_preview.png" };
        var count = new Option<int>("--count") { Description = "Samples on the sheet.", DefaultValueFactory = _ => 24 };
        var split = new Option<ShapesSplit>("--split") { Description = "Train, Validation or HeldOut.", DefaultValueFactory = _ => ShapesSplit.Train };
        var seed = new Option<int>("--seed") { Description = "Data set seed.", DefaultValueFactory = _ => 0 };
        var size = new Option<int>("--size") { Description = "Image side in pixels (32..256).", DefaultValueFactory = _ => ShapesRenderer.DefaultSize };
        var columns = new Option<int>("--columns") { Description = "Tiles per row.", DefaultValueFactory = _ => 6 };
        foreach (var o in new Option[] { output, count, split, seed, size, columns }) preview.Options.Add(o);
        preview.SetAction(p => CliErrors.Run(() =>
        {
            int n = p.GetValue(count);
            if (n < 1) throw new ArgumentException("--count must be at least 1.");
            var data = new ShapesDataset(p.GetValue(seed), p.GetValue(split), p.GetValue(size));
            var samples = Enumerable.Range(0, n).Select(data.Sample).ToList();
            var path = p.GetValue(output)!;
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            ContactSheet.Write(path, samples, p.GetValue(columns));
            AnsiConsole.MarkupLine($"{n} {p.GetValue(split)} samples written to [bold]{Markup.Escape(path)}[/]");
            return 0;
        }));
        cmd.Subcommands.Add(preview);
        return cmd;
    }
}
