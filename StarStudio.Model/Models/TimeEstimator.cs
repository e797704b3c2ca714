// What a full-size run would cost on this machine, without running it: one and two blocks of the real width are timed
// on the schedule's first scales, the difference is one layer's cost, and the measured FLOP rate of that layer scales
// the whole model's FLOP count (TransformerFlops) up to every block and every scale.
using System.Diagnostics;
using StarStudio.Model.Benchmarks;
using StarStudio.Model.Presets;
using StarStudio.Model.Transformers;
using static TorchSharp.torch;

namespace StarStudio.Model.Models;

/// <param name="MeasuredPatchNums">The scales the layer was timed on (a prefix of the schedule).</param>
/// <param name="LayerMs">One block's time over those scales, all rows.</param>
/// <param name="LayerGflops">That block's achieved rate.</param>
/// <param name="TotalGflop">The whole transformer's FLOPs for the run (every block, every scale, the logits head).</param>
/// <param name="EstimatedSeconds">TotalGflop at the measured rate (the VQ-VAE decode and sampling are extra).</param>
public sealed record TimeEstimate(string Model, int Rows, double MatmulGflops, IReadOnlyList<int> MeasuredPatchNums, double LayerMs,
    double LayerGflops, double TotalGflop, double EstimatedSeconds)
{
    public double RooflineFraction => LayerGflops / MatmulGflops;
}

public static class TimeEstimator
{
    /// <summary>Tokens of the schedule prefix timed (enough for steady matmul rates, small enough to take seconds).</summary>
    public const int MeasureTokens = 700;

    public static TimeEstimate Measure(ModelPreset preset, int batch = 1, bool cfg = true, Action<string>? progress = null) => preset.Star is { } star
        ? MeasureStar(preset.Name, star, batch, cfg, progress)
        : MeasureVar(preset.Name, preset.Var!, batch, cfg, progress);

    public static TimeEstimate MeasureStar(string name, StarConfig config, int batch, bool cfg, Action<string>? progress = null, int matmulSize = 2048)
    {
        int rows = cfg ? 2 * batch : batch;
        var prefix = Prefix(config.PatchNums);
        StarConfig Cut(int depth) => config with { Depth = depth, Width = config.Width, Heads = config.Heads, StableSamplerHead = false, PatchNums = prefix };
        ScaleConditioning Cond()
        {
            using var scope = NewDisposeScope();
            return new TextConditioning(randn(rows, MemoryEstimator.ClipTokens, config.TextDim).DetachFromDisposeScope(),
                ones(rows, MemoryEstimator.ClipTokens).DetachFromDisposeScope(), randn(rows, config.TextDim).DetachFromDisposeScope());
        }
        var shape = new TransformerShape(config.Depth, config.Width, config.MlpRatio, config.VocabSize, config.PatchNums,
            config.EnableCross ? MemoryEstimator.ClipTokens : 0, config.TextDim, AdaLn: false, config.LocalMixKernel);
        return Run(name, rows, prefix, shape, d => new StarTransformer(Cut(d)), Cond, progress, matmulSize);
    }

    public static TimeEstimate MeasureVar(string name, VarConfig config, int batch, bool cfg, Action<string>? progress = null, int matmulSize = 2048)
    {
        int rows = cfg ? 2 * batch : batch;
        var prefix = Prefix(config.PatchNums);
        var shape = new TransformerShape(config.Depth, config.Width, config.MlpRatio, config.VocabSize, config.PatchNums, 0, 0, AdaLn: true);
        return Run(name, rows, prefix, shape,
            d => new VarTransformer(config with { Depth = d, Width = config.Width, Heads = config.Heads, PatchNums = prefix }),
            () => new ClassConditioning(zeros(rows, dtype: ScalarType.Int64).DetachFromDisposeScope()), progress, matmulSize);
    }

    static int[] Prefix(IReadOnlyList<int> patchNums)
    {
        var prefix = new List<int>();
        int tokens = 0;
        foreach (int pn in patchNums)
        {
            if (prefix.Count >= 2 && tokens + pn * pn > MeasureTokens) break;
            prefix.Add(pn);
            tokens += pn * pn;
        }
        return [.. prefix];
    }

    static TimeEstimate Run(string name, int rows, int[] prefix, TransformerShape full, Func<int, IScaleWiseTransformer> build,
        Func<ScaleConditioning> makeCond, Action<string>? progress, int matmulSize)
    {
        progress ??= _ => { };
        progress($"Measuring the fp32 matmul roofline ({matmulSize}^3)...");
        double matmul = Roofline.MatmulGflops(CPU, matmulSize, repeats: 5);
        var cond = makeCond();
        try
        {
            var ms = new double[3];
            foreach (int depth in new[] { 1, 2 })
            {
                progress($"Timing {depth} block(s) of width {full.Width} on scales {string.Join(",", prefix)} with {rows} rows...");
                manual_seed(0);
                var t = build(depth);
                try
                {
                    ((nn.Module)t).eval();
                    TimeScales(t, cond, rows); // warm-up
                    ms[depth] = Math.Min(TimeScales(t, cond, rows), TimeScales(t, cond, rows));
                }
                finally { (t as IDisposable)?.Dispose(); }
            }
            // Timer noise can make the difference non-positive on tiny widths; fall back to the two-block average.
            double layerMs = ms[2] - ms[1] > 0.05 * ms[2] ? ms[2] - ms[1] : ms[2] / 2;
            var measuredShape = full with { PatchNums = prefix };
            double layerFlop = TransformerFlops.Total(measuredShape with { Depth = 1 }, rows) - TransformerFlops.Total(measuredShape with { Depth = 0 }, rows);
            double rate = layerFlop / 1e9 / (layerMs / 1000);
            double total = TransformerFlops.Total(full, rows) / 1e9;
            return new TimeEstimate(name, rows, matmul, prefix, layerMs, rate, total, total / rate);
        }
        finally
        {
            foreach (var tensor in cond switch { TextConditioning tc => new[] { tc.HiddenStates, tc.AttentionMask, tc.Pooled }, ClassConditioning cc => [cc.Labels], _ => [] })
                tensor.Dispose();
        }
    }

    /// <summary>Milliseconds of ForwardScale over every scale (inputs are random token maps; only the cost matters).</summary>
    static double TimeScales(IScaleWiseTransformer t, ScaleConditioning cond, int rows)
    {
        using var noGrad = no_grad();
        using var cache = t.NewCache();
        double ms = 0;
        for (int si = 0; si < t.PatchNums.Count; si++)
        {
            using var scope = NewDisposeScope();
            var x = si == 0 ? t.StartTokens(cond) : t.ScaleInput(randn(rows, t.PatchNums[si] * t.PatchNums[si], t.Cvae), si);
            var sw = Stopwatch.StartNew();
            var h = t.ForwardScale(x, si, cond, cache);
            ms += sw.Elapsed.TotalMilliseconds;
        }
        return ms;
    }
}
