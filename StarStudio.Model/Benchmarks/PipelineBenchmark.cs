using System.Diagnostics;
using StarStudio.Model.Generation;
using StarStudio.Model.Runtime;
using StarStudio.Model.Transformers;

namespace StarStudio.Model.Benchmarks;

/// <param name="Preset">A <see cref="RandomModels"/> preset.</param>
/// <param name="Batch">Images per run.</param>
/// <param name="Cfg">Guidance (0 = guidance-free, half the rows).</param>
/// <param name="Runs">Measured runs of each kind (previews on, previews off) after one warm-up.</param>
/// <param name="Device">auto, cpu, cuda.</param>
/// <param name="MatmulSize">Side of the square matmul that sets the roofline.</param>
public sealed record BenchOptions(string Preset = "star-d16-256", int Batch = 1, double Cfg = 4, int Runs = 3, string Device = "auto", int MatmulSize = 2048);

/// <summary>Medians of one scale over the measured runs without previews (decode: per preview mode).</summary>
public sealed record ScaleBench(int ScaleIndex, int Side, double TransformerMs, double SamplingMs, IReadOnlyDictionary<PreviewMode, double> DecodeMs, double TransformerGflop);

/// <summary>One figure set of a bench run; totals are medians over the runs, per preview mode.</summary>
public sealed record BenchReport(
    BenchOptions Options,
    string DeviceName,
    int Threads,
    double MatmulGflops,
    IReadOnlyList<ScaleBench> Scales,
    IReadOnlyDictionary<PreviewMode, double> TotalMs,
    double TransformerMs,
    double TransformerGflop,
    double PeakRssMiB)
{
    /// <summary>Total with only the final image decoded.</summary>
    public double BaselineMs => TotalMs[PreviewMode.None];
    public int Tokens => Scales.Sum(s => s.Side * s.Side) * Options.Batch;
    public double TokensPerSecond => Tokens / (BaselineMs / 1000);
    public double TransformerGflops => TransformerGflop / (TransformerMs / 1000);
    /// <summary>Achieved transformer throughput as a fraction of the measured matmul throughput.</summary>
    public double RooflineFraction => TransformerGflops / MatmulGflops;
    /// <summary>Transformer time over its matmul-roofline time (target: at most 1.5).</summary>
    public double RooflineRatio => 1 / RooflineFraction;
    /// <summary>Extra time that streaming every scale's preview costs in a mode (target: at most 0.15).</summary>
    public double PreviewOverhead(PreviewMode mode) => TotalMs[mode] / BaselineMs - 1;
    /// <summary>Median time of the final full decode.</summary>
    public double FinalDecodeMs => Scales[^1].DecodeMs[PreviewMode.None];
}

public static class PipelineBenchmark
{
    public static readonly PreviewMode[] Modes = [PreviewMode.None, PreviewMode.Approximate, PreviewMode.Reduced, PreviewMode.Full];

    public static BenchReport Run(BenchOptions o, Action<string>? progress = null)
    {
        progress ??= _ => { };
        var device = ComputeDevice.Resolve(o.Device);
        progress($"Measuring {o.MatmulSize}^3 fp32 matmul throughput on {device}...");
        double matmul = Roofline.MatmulGflops(device, o.MatmulSize);

        progress($"Building random-weight model '{o.Preset}'...");
        using var model = RandomModels.Create(o.Preset, device);
        var pipeline = new GenerationPipeline(model);
        var shape = ShapeOf(model);
        int S = model.Transformer.PatchNums.Count;
        int rows = o.Cfg > 0 ? 2 * o.Batch : o.Batch;

        GenerationRequest Request(PreviewMode previews, int run) => new()
        {
            Prompts = model.Limits.TextConditional ? Enumerable.Repeat("a photo of a red star on a blue background", o.Batch).ToList() : [],
            ClassLabels = model.Limits.TextConditional ? [] : Enumerable.Range(0, o.Batch).Select(i => i % model.Limits.NumClasses).ToList(),
            Seed = run,
            Cfg = o.Cfg,
            TopP = 0.8,
            Previews = previews,
        };

        progress("Warm-up run (also fits the approximate preview map)...");
        foreach (var _ in pipeline.Generate(Request(PreviewMode.Approximate, 0))) { }

        var frames = Modes.ToDictionary(m => m, _ => new List<ScaleFrame[]>());
        var totals = Modes.ToDictionary(m => m, _ => new List<double>());
        for (int run = 0; run < o.Runs; run++)
            foreach (var mode in Modes)
            {
                progress($"Run {run + 1}/{o.Runs}, previews {mode}...");
                var sw = Stopwatch.StartNew();
                frames[mode].Add(pipeline.Generate(Request(mode, run + 1)).ToArray());
                totals[mode].Add(sw.Elapsed.TotalMilliseconds);
            }

        var baseline = frames[PreviewMode.None];
        var scales = Enumerable.Range(0, S).Select(si => new ScaleBench(
            si, model.Transformer.PatchNums[si],
            Stats.Median(baseline.Select(r => r[si].Timings.TransformerMs)),
            Stats.Median(baseline.Select(r => r[si].Timings.SamplingMs)),
            Modes.ToDictionary(m => m, m => Stats.Median(frames[m].Select(r => r[si].Timings.DecodeMs))),
            TransformerFlops.ForScale(shape, si, rows) / 1e9)).ToList();
        double transformerMs = Stats.Median(baseline.Select(r => r.Sum(f => f.Timings.TransformerMs)));

        return new BenchReport(o, device.ToString(), TorchSharp.torch.get_num_threads(), matmul, scales,
            Modes.ToDictionary(m => m, m => Stats.Median(totals[m])), transformerMs, scales.Sum(s => s.TransformerGflop), ProcessMemory.PeakRssMiB());
    }
    public static TransformerShape ShapeOf(ScaleWiseModel model) => model.Transformer switch
    {
        StarTransformer star => new TransformerShape(star.Config.Depth, star.Config.Width, star.Config.MlpRatio, star.Config.VocabSize,
            star.Config.PatchNums, star.Config.EnableCross ? model.TextEncoder?.MaxTokens ?? 0 : 0, star.Config.TextDim, AdaLn: false, star.Config.LocalMixKernel),
        VarTransformer var => new TransformerShape(var.Config.Depth, var.Config.Width, var.Config.MlpRatio, var.Config.VocabSize,
            var.Config.PatchNums, 0, 0, AdaLn: true),
        _ => throw new NotSupportedException($"No FLOP model for {model.Transformer.GetType().Name}."),
    };
}
