// StarStudio's own evaluation driver (no reference file): generates held-out ShapesWorld prompts with the engine's
// pipeline in batches, scores them with ShapesEval, and times single-image generation with every preview decoded.
using System.Diagnostics;
using StarStudio.Model.Generation;
using StarStudio.Model.Presets;
using StarStudio.Model.Sampling;
using StarStudio.Model.Shapes;
using StarStudio.Model.Vae;

namespace StarStudio.Model.Training;

/// <summary>One evaluation: the sampler settings, the seeds and the batch size.</summary>
public sealed record EvalSettings
{
    /// <summary>Cfg, top-k/top-p, more-smooth and the stable sampler, as a model recommends them (StarStudio's general defaults unless set).</summary>
    public SamplingDefaults Sampling { get; init; } = SamplingDefaults.General;
    /// <summary>Prompt i is generated with seed Seed + i.</summary>
    public long Seed { get; init; }
    /// <summary>Prompts per generation batch (rows are independent: per-row seeds).</summary>
    public int Batch { get; init; } = 25;

    /// <summary>
    /// The generation request of held-out prompts <paramref name="rows"/> (prompt i with seed Seed + i), without
    /// previews; <paramref name="prefix"/> hands the pipeline given tokens of the first scales (ScaleDiagnosis).
    /// </summary>
    public GenerationRequest Request(IReadOnlyList<HeldOutPrompt> prompts, IReadOnlyList<int> rows, IReadOnlyList<IReadOnlyList<int[]>>? prefix = null) =>
        Sampling.ToRequest() with
        {
            Prompts = [.. rows.Select(i => prompts[i].Prompt)],
            Seeds = [.. rows.Select(i => Seed + i)],
            Previews = PreviewMode.None, PrefixTokens = prefix,
        };

    public override string ToString()
    {
        var s = Sampling;
        return $"cfg {s.Cfg}, top-k {s.TopK}, top-p {s.TopP}, more-smooth {(s.MoreSmooth ? "on" : "off")}, "
            + (s.StableSampling ? $"stable sampler ({s.StableSamplerVersion})" : "standard sampler");
    }
}

public sealed record EvalReport(EvalSettings Settings, ShapesEvalTable Table, IReadOnlyList<PromptEvaluation> Results, double MsPerImage);

/// <summary>Latency of one image with every scale's preview decoded.</summary>
public sealed record LatencyReport(int Runs, double MedianTotalMs, double MedianFirstPreviewMs, double MinTotalMs);

public static class ModelEvaluation
{
    public static EvalReport Run(ScaleWiseModel model, IReadOnlyList<HeldOutPrompt> prompts, EvalSettings settings,
        Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        if (settings.Batch < 1) throw new ArgumentException("The evaluation batch must be at least 1.");
        var pipeline = new GenerationPipeline(model);
        var results = new List<PromptEvaluation>(prompts.Count);
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < prompts.Count; start += settings.Batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = prompts.Skip(start).Take(settings.Batch).ToList();
            var request = settings.Request(prompts, [.. Enumerable.Range(start, chunk.Count)]);
            var last = pipeline.Generate(request, cancellationToken).Last();
            for (int i = 0; i < chunk.Count; i++)
            {
                var img = last.Images![i];
                results.Add(new PromptEvaluation(chunk[i], img, ShapesEvaluator.Evaluate(img, chunk[i].Claims)));
            }
            progress?.Invoke(results.Count, prompts.Count);
        }
        double ms = clock.Elapsed.TotalMilliseconds / Math.Max(1, prompts.Count);
        return new EvalReport(settings, ShapesEvaluator.Table(results), results, ms);
    }

    /// <summary>
    /// The ceiling the tokenizer sets: the ground-truth render of each prompt, encoded to the VQ-VAE's token pyramid
    /// and decoded again, judged by ShapesEval. No transformer can draw better than its VQ-VAE reconstructs.
    /// </summary>
    public static EvalReport TokenizerCeiling(ScaleWiseModel model, IReadOnlyList<HeldOutPrompt> prompts, int batch = 25) =>
        TokenizerCeiling(model.Vae, prompts, batch);

    /// <summary>The same for a VQ-VAE alone (a training run's vqvae stage, before any transformer exists).</summary>
    public static EvalReport TokenizerCeiling(VQVAE vae, IReadOnlyList<HeldOutPrompt> prompts, int batch = 25) =>
        Reconstructions(vae, prompts, batch, everyScale: false)[0];

    /// <summary>
    /// The ceiling of every partial pyramid: report k (0-based) judges the picture decoded from the first k+1 scales
    /// alone, the finer ones left out (f_hat summed that far, as the previews show it); the last report is
    /// <see cref="TokenizerCeiling(VQVAE, IReadOnlyList{HeldOutPrompt}, int)"/>. It says which scale a shape first
    /// becomes legible at, so where a transformer must get the details right.
    /// </summary>
    public static IReadOnlyList<EvalReport> TokenizerCeilingByScale(VQVAE vae, IReadOnlyList<HeldOutPrompt> prompts, int batch = 25) =>
        Reconstructions(vae, prompts, batch, everyScale: true);

    static List<EvalReport> Reconstructions(VQVAE vae, IReadOnlyList<HeldOutPrompt> prompts, int batch, bool everyScale)
    {
        if (batch < 1) throw new ArgumentException("The evaluation batch must be at least 1.");
        int side = vae.Config.ImageSide, reports = everyScale ? vae.Quantize.VPatchNums.Count : 1;
        var device = vae.Quantize.Embedding.weight!.device;
        var results = Enumerable.Range(0, reports).Select(_ => new List<PromptEvaluation>(prompts.Count)).ToList();
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < prompts.Count; start += batch)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var _ = TorchSharp.torch.no_grad();
            var chunk = prompts.Skip(start).Take(batch).ToList();
            var x = ShapesBatches.ToTensor([.. chunk.Select(p => ShapesRenderer.Render(p.Scene, side))], device);
            var partial = vae.ImgToReconstructedImg(x, lastOne: !everyScale);
            for (int k = 0; k < reports; k++)
            {
                var rec = ShapesBatches.ToImages(partial[k]);
                for (int i = 0; i < chunk.Count; i++)
                    results[k].Add(new PromptEvaluation(chunk[i], rec[i], ShapesEvaluator.Evaluate(rec[i], chunk[i].Claims)));
            }
        }
        double ms = clock.Elapsed.TotalMilliseconds / Math.Max(1, prompts.Count);
        return [.. results.Select(r => new EvalReport(new EvalSettings(), ShapesEvaluator.Table(r), r, ms))];
    }

    /// <summary>A contact sheet of the failures (at most <paramref name="max"/>), each captioned with what went wrong.</summary>
    public static int WriteFailures(string path, EvalReport report, int max = 48)
    {
        var failures = report.Results.Where(r => !r.Result.Passed).Take(max).Select(r => (r.Image, r.Caption)).ToList();
        if (failures.Count == 0) return 0;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        ContactSheet.Write(path, failures, columns: 8, tileSize: 128);
        return failures.Count;
    }

    /// <summary>
    /// One image (batch 1) with every scale's preview fully decoded, after one warm-up: median wall time of the whole
    /// generation and of the first preview (the 1x1 scale) from the request.
    /// </summary>
    public static LatencyReport Latency(ScaleWiseModel model, string prompt, EvalSettings settings, int runs = 11)
    {
        if (runs < 1) throw new ArgumentException("At least one run.");
        var pipeline = new GenerationPipeline(model);
        var totals = new List<double>();
        var firsts = new List<double>();
        for (int r = -1; r < runs; r++)
        {
            var request = settings.Sampling.ToRequest() with { Prompts = [prompt], Seed = settings.Seed + r + 1, Previews = PreviewMode.Full };
            var clock = Stopwatch.StartNew();
            double first = double.NaN;
            foreach (var frame in pipeline.Generate(request))
                if (double.IsNaN(first)) first = clock.Elapsed.TotalMilliseconds;
            double total = clock.Elapsed.TotalMilliseconds;
            if (r < 0) continue;
            totals.Add(total);
            firsts.Add(first);
        }
        return new LatencyReport(runs, Median(totals), Median(firsts), totals.Min());
    }

    static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
