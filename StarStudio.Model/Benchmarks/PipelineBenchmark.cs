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

/// <summary>Medians of one scale over the measured runs with previews on.</summary>
public sealed record ScaleBench(int ScaleIndex, int Side, double TransformerMs, double SamplingMs, double DecodeMs, double TransformerGflop);

public sealed record BenchReport(
    BenchOptions Options,
    string DeviceName,
    int Threads,
    double MatmulGflops,
    IReadOnlyList<ScaleBench> Scales,
    double TotalMsWithPreviews,
    double TotalMsWithoutPreviews,
    double TransformerMs,
    double TransformerGflop,
    double PeakRssMiB)
{
    public int Tokens => Scales.Sum(s => s.Side * s.Side) * Options.Batch;
    public double TokensPerSecond => Tokens / (TotalMsWithoutPreviews / 1000);
    public double TransformerGflops => TransformerGflop / (TransformerMs / 1000);
    /// <summary>Achieved transformer throughput as a fraction of the measured matmul throughput.</summary>
    public double RooflineFraction => TransformerGflops / MatmulGflops;
    /// <summary>Transformer time over its matmul-roofline time (target: at most 1.5).</summary>
    public double RooflineRatio => 1 / RooflineFraction;
    public double DecodeMs => Scales.Sum(s => s.DecodeMs);
    /// <summary>Extra time that decoding every scale's preview costs (target: at most 0.15).</summary>
    public double PreviewOverhead => TotalMsWithPreviews / TotalMsWithoutPreviews - 1;
}

public static class PipelineBenchmark
{
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

        GenerationRequest Request(bool previews, int run) => new()
        {
            Prompts = model.Limits.TextConditional ? Enumerable.Repeat("a photo of a red star on a blue background", o.Batch).ToList() : [],
            ClassLabels = model.Limits.TextConditional ? [] : Enumerable.Range(0, o.Batch).Select(i => i % model.Limits.NumClasses).ToList(),
            Seed = run,
            Cfg = o.Cfg,
            TopP = 0.8,
            DecodePreviews = previews,
        };

        progress("Warm-up run...");
        foreach (var _ in pipeline.Generate(Request(true, 0))) { }

        var withPreviews = new List<ScaleFrame[]>();
        var totalsOn = new List<double>();
        var totalsOff = new List<double>();
        for (int run = 0; run < o.Runs; run++)
        {
            progress($"Run {run + 1}/{o.Runs} with previews...");
            var sw = Stopwatch.StartNew();
            withPreviews.Add(pipeline.Generate(Request(true, run + 1)).ToArray());
            totalsOn.Add(sw.Elapsed.TotalMilliseconds);
            progress($"Run {run + 1}/{o.Runs} without previews...");
            sw.Restart();
            foreach (var _ in pipeline.Generate(Request(false, run + 1))) { }
            totalsOff.Add(sw.Elapsed.TotalMilliseconds);
        }

        var scales = Enumerable.Range(0, S).Select(si => new ScaleBench(
            si, model.Transformer.PatchNums[si],
            Stats.Median(withPreviews.Select(r => r[si].Timings.TransformerMs)),
            Stats.Median(withPreviews.Select(r => r[si].Timings.SamplingMs)),
            Stats.Median(withPreviews.Select(r => r[si].Timings.DecodeMs)),
            TransformerFlops.ForScale(shape, si, rows) / 1e9)).ToList();
        double transformerMs = Stats.Median(withPreviews.Select(r => r.Sum(f => f.Timings.TransformerMs)));

        return new BenchReport(o, device.ToString(), TorchSharp.torch.get_num_threads(), matmul, scales,
            Stats.Median(totalsOn), Stats.Median(totalsOff), transformerMs, scales.Sum(s => s.TransformerGflop), ProcessMemory.PeakRssMiB());
    }

    public static TransformerShape ShapeOf(ScaleWiseModel model) => model.Transformer switch
    {
        StarTransformer star => new TransformerShape(star.Config.Depth, star.Config.Width, star.Config.MlpRatio, star.Config.VocabSize,
            star.Config.PatchNums, star.Config.EnableCross ? model.TextEncoder?.MaxTokens ?? 0 : 0, star.Config.TextDim, AdaLn: false),
        VarTransformer var => new TransformerShape(var.Config.Depth, var.Config.Width, var.Config.MlpRatio, var.Config.VocabSize,
            var.Config.PatchNums, 0, 0, AdaLn: true),
        _ => throw new NotSupportedException($"No FLOP model for {model.Transformer.GetType().Name}."),
    };
}
