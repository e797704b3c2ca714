using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StarStudio.Model.Models;
using StarStudio.Model.Presets;

namespace StarStudio.Cli.Commands;

/// <summary>`starstudio estimate --preset star-d30-1024-sampler`: memory and time of a full-size run on this machine.</summary>
static class EstimateCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Official preset: {string.Join(", ", OfficialPresets.Names)}.", DefaultValueFactory = _ => "star-d30-1024-sampler" };
        var batch = new Option<int>("--batch", "-b") { Description = "Images per run.", DefaultValueFactory = _ => 1 };
        var cfg = new Option<double>("--cfg") { Description = "Guidance weight (0 = guidance-free: half the rows).", DefaultValueFactory = _ => 4.0 };
        var noMeasure = new Option<bool>("--no-measure") { Description = "Memory only; skip timing one block of the real width." };
        var cmd = new Command("estimate", "Estimate the memory (weights, KV cache, activations, decode) and time a preset needs here, from measured per-layer figures.");
        foreach (var o in new Option[] { preset, batch, cfg, noMeasure }) cmd.Options.Add(o);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var pr = OfficialPresets.Get(p.GetValue(preset)!);
            int b = p.GetValue(batch);
            if (b < 1) throw new ArgumentException("--batch must be at least 1.");
            bool guided = p.GetValue(cfg) > 0;
            var mem = MemoryEstimator.ForPreset(pr, b, guided);
            long available = MemoryEstimator.AvailableBytes();
            Console.WriteLine($"{pr.Name}: {pr.Description}");
            void Row(string part, long bytes) => Console.WriteLine($"  {part,-40} {MemoryEstimate.Format(bytes),10}");
            Row("weights (fp32)", mem.WeightsBytes);
            Row($"KV cache ({mem.Rows} rows x {pr.PatchNums.Sum(n => n * n)} tokens)", mem.KvCacheBytes);
            Row("activations (largest scale)", mem.ActivationBytes);
            Row("VQ-VAE decode (reuses the cache's space)", mem.DecodeBytes);
            Row("runtime", mem.RuntimeBytes);
            Row("peak", mem.TotalBytes);
            bool fits = mem.TotalBytes <= available;
            Console.WriteLine(fits
                ? $"Fits: {MemoryEstimate.Format(available)} available."
                : $"Does NOT fit: {MemoryEstimate.Format(available)} available; StarStudio refuses to load it here rather than swap or be killed.");
            if (!p.GetValue(noMeasure))
            {
                var t = TimeEstimator.Measure(pr, b, guided, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"));
                var inv = CultureInfo.InvariantCulture;
                Console.WriteLine($"One block (width {pr.Width}) on scales {string.Join(",", t.MeasuredPatchNums)} with {t.Rows} rows: {t.LayerMs.ToString("F1", inv)} ms, " +
                                  $"{t.LayerGflops.ToString("F1", inv)} GFLOP/s ({t.RooflineFraction.ToString("P0", inv)} of the {t.MatmulGflops.ToString("F0", inv)} GFLOP/s matmul roofline).");
                Console.WriteLine($"Full run: {t.TotalGflop.ToString("F0", inv)} GFLOP over {pr.Depth} blocks and {pr.PatchNums.Count} scales: about " +
                                  $"{t.EstimatedSeconds.ToString("F0", inv)} s for the transformer ({(t.EstimatedSeconds / 60).ToString("F1", inv)} min), plus sampling and the VQ-VAE decode.");
            }
            return fits ? 0 : 3;
        }));
        return cmd;
    }
}
