using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StarStudio.Model.Benchmarks;
using StarStudio.Model.Generation;
using StarStudio.Model.Models;
using StarStudio.Model.Presets;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli.Commands;

static class BenchCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Random-weight model: {string.Join(", ", RandomModels.Presets.Keys)}.", DefaultValueFactory = _ => "star-d16-256" };
        var batch = new Option<int>("--batch", "-b") { Description = "Images per run.", DefaultValueFactory = _ => 1 };
        var cfg = new Option<double>("--cfg") { Description = "Guidance weight (0 = guidance-free).", DefaultValueFactory = _ => 4.0 };
        var runs = new Option<int>("--runs") { Description = "Measured runs (median reported), after one warm-up.", DefaultValueFactory = _ => 3 };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("bench", "Measure matmul throughput, then a full generation scale by scale: time, FLOPs, roofline fraction, decode cost, memory.");
        foreach (var o in new Option[] { preset, batch, cfg, runs, device }) cmd.Options.Add(o);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var options = new BenchOptions(p.GetValue(preset)!, p.GetValue(batch), p.GetValue(cfg), p.GetValue(runs), p.GetValue(device)!);
            // Refuse a run this machine can't hold (with the estimate) instead of swapping or being killed.
            if ((OfficialPresets.Find(options.Preset) ?? OfficialPresets.Find(options.Preset + "-sampler")) is { } official
                && ComputeDevice.Resolve(options.Device).type == TorchSharp.DeviceType.CPU)
                MemoryEstimator.EnsureFits(MemoryEstimator.ForPreset(official, options.Batch, options.Cfg > 0), MemoryEstimator.AvailableBytes());
            var report = PipelineBenchmark.Run(options, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"));
            Print(report);
            return 0;
        }));
        return cmd;
    }

    static void Print(BenchReport r)
    {
        var inv = CultureInfo.InvariantCulture;
        var o = r.Options;
        AnsiConsole.MarkupLine($"[bold]{o.Preset}[/], batch {o.Batch}, cfg {o.Cfg.ToString(inv)} ({(o.Cfg > 0 ? 2 * o.Batch : o.Batch)} rows), {r.DeviceName}, {r.Threads} threads, median of {o.Runs} runs");
        AnsiConsole.MarkupLine($"fp32 matmul {o.MatmulSize}^3: [bold]{r.MatmulGflops:F1} GFLOP/s[/]");
        var table = new Table().AddColumns("scale", "side", "transformer ms", "GFLOP", "GFLOP/s", "sampling ms", "decode full", "reduced", "approx");
        foreach (var s in r.Scales)
            table.AddRow($"{s.ScaleIndex + 1}", $"{s.Side}x{s.Side}", $"{s.TransformerMs:F1}", $"{s.TransformerGflop:F2}",
                $"{s.TransformerGflop / (s.TransformerMs / 1000):F1}", $"{s.SamplingMs:F1}",
                $"{s.DecodeMs[PreviewMode.Full]:F1}", $"{s.DecodeMs[PreviewMode.Reduced]:F1}", $"{s.DecodeMs[PreviewMode.Approximate]:F1}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"total (final image only) [bold]{r.BaselineMs:F0} ms[/], of which the final decode {r.FinalDecodeMs:F0} ms; {r.Tokens} tokens, [bold]{r.TokensPerSecond:F0} tokens/s[/]");
        foreach (var mode in new[] { PreviewMode.Approximate, PreviewMode.Reduced, PreviewMode.Full })
            AnsiConsole.MarkupLine($"streaming every scale's preview ({mode}): {r.TotalMs[mode]:F0} ms, [bold]+{r.PreviewOverhead(mode):P1}[/] (target <= 15%)");
        AnsiConsole.MarkupLine($"transformer {r.TransformerGflop:F1} GFLOP in {r.TransformerMs:F0} ms = [bold]{r.TransformerGflops:F1} GFLOP/s[/], {r.RooflineFraction:P0} of the matmul roofline ({r.RooflineRatio:F2}x the roofline time; target <= 1.5x)");
        AnsiConsole.MarkupLine($"peak memory (RSS) [bold]{r.PeakRssMiB:F0} MiB[/]");
    }
}
