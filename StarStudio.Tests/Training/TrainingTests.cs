using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using StarStudio.Model.Presets;
using StarStudio.Model.Shapes;
using StarStudio.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Training;

/// <summary>The three trainers on the tiny preset: they learn, checkpoint, resume exactly and export a loadable model.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class TrainingTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "starstudio-train-" + Guid.NewGuid().ToString("N"));
    public TrainingTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    TrainOptions Options(string stage, string run, int steps, int? maxThisRun = null) =>
        ShapesTraining.Defaults(stage, "tiny") with
        {
            RunFolder = Path.Combine(_dir, run), Steps = steps, BatchSize = 4, WarmupSteps = 1, CheckpointEvery = 1000,
            SampleEvery = 0, WriteImages = false, MaxStepsThisRun = maxThisRun, LearningRate = 3e-3,
        };

    static Dictionary<string, float[]> Weights(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).data<float>().ToArray());

    [Fact]
    public void AdamW_OneStepMatchesTheHandDerivedUpdate()
    {
        // m = 0.1 g = 0.05, v = 0.05 g^2 = 0.0125; bias-corrected 0.5 and 0.25; step lr * 0.5 / 0.5 = lr.
        // Decoupled decay first: 1 * (1 - lr * wd) = 0.99, then 0.99 - 0.1 = 0.89.
        using var p = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f, 1f }, [1, 2]));
        using var opt = new AdamW([("w", p)], beta1: 0.9, beta2: 0.95, eps: 0, weightDecay: 0.1, noDecay: (_, _) => false);
        p.grad = tensor(new float[] { 0.5f, -0.5f }, [1, 2]);
        opt.Step(0.1);
        var w = p.data<float>().ToArray();
        Assert.Equal(0.89f, w[0], 1e-6f);
        Assert.Equal(1.09f, w[1], 1e-6f);
        Assert.Equal(1, opt.StepCount);
    }

    [Fact]
    public void AdamW_SkipsAnUpdateWhoseGradientIsNotFiniteAndCountsIt()
    {
        using var p = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f, 1f }, [1, 2]));
        using var opt = new AdamW([("w", p)], beta1: 0.9, beta2: 0.95, eps: 0, weightDecay: 0.1, noDecay: (_, _) => false);
        p.grad = tensor(new float[] { float.NaN, 0.5f }, [1, 2]);
        Assert.True(double.IsNaN(opt.ClipGradNorm(1.0)));
        opt.Step(0.1);
        Assert.Equal([1f, 1f], p.data<float>().ToArray());
        Assert.Equal((0L, 1L), (opt.StepCount, opt.SkippedSteps));
        p.grad = tensor(new float[] { 0.5f, -0.5f }, [1, 2]);
        opt.ClipGradNorm(0);
        opt.Step(0.1);
        Assert.Equal(0.89f, p.data<float>()[0], 1e-6f); // the first real update, as in the hand-derived test
        Assert.Equal((1L, 1L), (opt.StepCount, opt.SkippedSteps));
    }

    [Fact]
    public void Trainer_ReportsAndLogsEveryUpdateItSkips()
    {
        // A diverged model (one weight NaN): every gradient is non-finite, so every update is skipped and said so.
        using var trainer = new VqVaeTrainer(Options("vqvae", "nan", 3));
        using (no_grad()) trainer.Vae.named_parameters().First(p => p.name == "decoder.conv_out.weight").parameter.view(-1)[0] = float.NaN;
        var seen = new List<long>();
        trainer.Run(pr => seen.Add(pr.SkippedUpdates));
        Assert.Equal([1L, 2, 3], seen);
        Assert.Equal([(0, 1.0), (1, 1.0), (2, 1.0)], trainer.Log.Metric(TrainerBase.SkippedMetric));
        Assert.Contains(TrainerBase.SkippedMetric, File.ReadLines(trainer.Log.Path).First());
    }

    [Theory]
    [InlineData("shapes", 16, 530)]
    [InlineData("shapes-coarse", 8, 130)]
    public void ShapesPresets_VaeAndTransformerAgreeOnTheScalesAndTheImageSize(string name, int latentSide, int tokens)
    {
        var preset = ShapesModelPreset.ByName(name);
        preset.Vae.Validate();
        Assert.Equal((latentSide, preset.ImageSize, tokens), (preset.Vae.LatentSide, preset.Vae.ImageSide, preset.Vae.TotalTokens));
        Assert.Equal(preset.Vae.VPatchNums, preset.Star.PatchNums);
        Assert.Equal(preset.Vae.Cvae, preset.Star.Cvae);
        Assert.Equal(preset.Vae.VocabSize, preset.Star.VocabSize);
        Assert.Equal(0, preset.Vae.NormGroups); // GroupNorm erases flat colours (VqVaeConfig.NormGroups)
    }

    [Fact]
    public void DataJitter_TheVqVaeLearnsEveryOffset_TheGeneratorStagesThePresets()
    {
        var centred = ShapesModelPreset.ByName("shapes-centred");
        Assert.Equal(ShapesModelPreset.Shapes with { Name = centred.Name, GeneratorJitter = 0f }, centred);
        Assert.Equal(1f, TrainerBase.DataJitter(VqVaeTrainer.StageName, centred));
        Assert.Equal(0f, TrainerBase.DataJitter(StarTrainer.StageName, centred));
        Assert.Equal(0f, TrainerBase.DataJitter(SamplerTrainer.StageName, centred));
        Assert.Equal(1f, TrainerBase.DataJitter(StarTrainer.StageName, ShapesModelPreset.Tiny));
    }

    [Fact]
    public void SamplerLoss_PerScaleWeighsEachScalesHiddenTokensAlike()
    {
        // Scales 1x1 (1 token) and 2x2 (4 tokens); one picture. Hidden: the 1x1 token and two 2x2 tokens.
        using var ce = tensor(new float[] { 3f, 1f, 2f, 100f, 100f }).view(1, 5);
        using var hidden = tensor(new float[] { 1f, 1f, 1f, 0f, 0f }).view(1, 5);
        using var uniform = SamplerTrainer.HiddenLoss(ce, hidden, [1, 2], ScaleLossWeighting.Uniform);
        using var perScale = SamplerTrainer.HiddenLoss(ce, hidden, [1, 2], ScaleLossWeighting.PerScale);
        Assert.Equal((3f + 1f + 2f) / 3, uniform.item<float>(), 5);
        Assert.Equal((3f + (1f + 2f) / 2) / 2, perScale.item<float>(), 5);
        // A scale with nothing hidden adds 0 rather than NaN; a layout that does not cover the tokens is refused.
        using var noneHidden = SamplerTrainer.HiddenLoss(ce, zeros(1, 5), [1, 2], ScaleLossWeighting.PerScale);
        Assert.Equal(0f, noneHidden.item<float>());
        Assert.Throws<ArgumentException>(() => SamplerTrainer.HiddenLoss(ce, hidden, [1, 3], ScaleLossWeighting.PerScale));
    }

    [Fact]
    public void KeptScales_TheOrderedPresetTruncatesHalfItsStepsTheShippedOneNone()
    {
        using var ordered = new VqVaeTrainer(Options("vqvae", "ordered", 10) with { Preset = "shapes-ordered" });
        var kept = Enumerable.Range(0, 400).Select(ordered.KeptScales).ToList();
        Assert.All(kept, k => Assert.InRange(k, 5, 8));
        Assert.InRange(kept.Count(k => k < 8), 160, 240);
        Assert.Equal([5, 6, 7, 8], kept.Distinct().Order());
        // Deterministic per step, so a resumed run draws what the interrupted one would have.
        Assert.Equal(kept, Enumerable.Range(0, 400).Select(ordered.KeptScales));
        using var shipped = new VqVaeTrainer(Options("vqvae", "shipped", 10) with { Preset = "shapes" });
        Assert.All(Enumerable.Range(0, 50), s => Assert.Equal(8, shipped.KeptScales(s)));
    }

    [Fact]
    public void Validated_RefusesPresetSettingsThatWouldFailOnlyLaterInTraining()
    {
        // Every preset a user can name passes.
        foreach (var name in new[] { "shapes", "shapes-abspos", "shapes-centred", "shapes-layout", "shapes-ordered", "shapes-ordered-wide", "shapes-sharp", "shapes-local", "shapes-codebook", "shapes-detail", "shapes-coarse", "tiny" })
        {
            Assert.Same(ShapesModelPreset.ByName(name), ShapesModelPreset.ByName(name).Validated());
            Assert.Contains($"{name} (", ShapesModelPreset.Catalogue);
        }
        var ordered = ShapesModelPreset.ShapesOrdered;
        // 8 of 8 scales is no truncation; 0 scales would decode nothing; rng.Next(min, S) would throw at some step.
        foreach (int bad in new[] { 0, 8, 9 })
            Assert.Contains("VaeTruncationMinScales must be 1..7", Assert.Throws<ArgumentException>(() => (ordered with { VaeTruncationMinScales = bad }).Validated()).Message);
        Assert.Contains("probability", Assert.Throws<ArgumentException>(() => (ordered with { VaeTruncation = 1.5 }).Validated()).Message);
        Assert.Contains("probability", Assert.Throws<ArgumentException>(() => (ordered with { VaeTruncation = double.NaN }).Validated()).Message);
        Assert.Contains("GeneratorJitter", Assert.Throws<ArgumentException>(() => (ShapesModelPreset.Shapes with { GeneratorJitter = -1 }).Validated()).Message);
        var mismatched = ShapesModelPreset.Shapes with { Star = ShapesModelPreset.Shapes.Star with { PatchNums = ShapesModelPreset.CoarsePatchNums } };
        Assert.Contains("differ from the VQ-VAE's", Assert.Throws<ArgumentException>(() => mismatched.Validated()).Message);
        // Without truncation the minimum is not read, so any value passes.
        Assert.NotNull((ShapesModelPreset.Shapes with { VaeTruncationMinScales = 0 }).Validated());
    }

    [Fact]
    public void LayoutPreset_IsTheEmbeddedDesignWithTheSamplerHeadFromThe3x3Scale()
    {
        var layout = ShapesModelPreset.ByName("shapes-layout");
        Assert.Equal(ShapesModelPreset.Shapes with { Name = layout.Name, Star = ShapesModelPreset.Shapes.Star with { SampleFromIdx = 2 } }, layout);
        Assert.Equal(3, layout.Star.PatchNums[layout.Star.SampleFromIdx]);
        var error = Assert.Throws<ArgumentException>(() => ShapesModelPreset.ByName("shapes-huge"));
        Assert.Contains("shapes-layout", error.Message);
    }

    [Fact]
    public void ObjectWeights_WeighPixelsThatDifferFromThePicturesBackground()
    {
        // A 4x4 blue picture with a red 2x2 square and one pixel of slightly different blue (below the threshold).
        var x = zeros(1, 3, 4, 4);
        x[0, 2] = tensor(1f);
        x[0, 0, ..2, ..2] = tensor(1f);
        x[0, 2, ..2, ..2] = tensor(-1f);
        x[0, 2, 3, 3] = tensor(0.98f);
        using var w = VqVaeTrainer.ObjectWeights(x);
        Assert.Equal([1L, 1, 4, 4], w.shape);
        float heavy = (float)(1 + VqVaeTrainer.ObjectWeight);
        Assert.Equal([heavy, heavy, 1, 1, heavy, heavy, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], w.data<float>().ToArray());
    }

    [Fact]
    public void ReplaceNonFinite_ZeroesNaNAndInfinityAndCountsThem()
    {
        using var lin = nn.Linear(3, 2);
        using (no_grad())
        {
            lin.weight![0, 1] = float.NaN;
            lin.bias![1] = float.PositiveInfinity;
        }
        Assert.Equal(2, StarTrainer.ReplaceNonFinite(lin));
        Assert.Equal(0f, lin.weight![0, 1].item<float>());
        Assert.Equal(0f, lin.bias![1].item<float>());
        Assert.Equal(0, StarTrainer.ReplaceNonFinite(lin));
    }

    [Fact]
    public void LrAt_WarmsUpLinearlyThenFollowsTheCosineToTheFinalRatio()
    {
        var o = new TrainOptions { RunFolder = "", Steps = 110, WarmupSteps = 10, LearningRate = 1.0, FinalLrRatio = 0.1 };
        Assert.Equal(0.1, o.LrAt(0), 12);
        Assert.Equal(1.0, o.LrAt(9), 12);
        Assert.Equal(1.0, o.LrAt(10), 12);
        Assert.Equal(0.55, o.LrAt(60), 12);   // half way: 0.1 + 0.9 * 0.5
        Assert.Equal(0.1, o.LrAt(110), 12);
    }

    [Fact]
    public void LossLog_ResumeDropsStepsTheCheckpointDoesNotHave()
    {
        var path = Path.Combine(_dir, "l.csv");
        var log = new LossLog(path);
        for (int s = 0; s < 5; s++) log.Add(s, new StepResult(10 - s, new Dictionary<string, double> { ["acc"] = s }), 0.1, 1);
        var again = new LossLog(path);
        again.LoadExisting(3);
        Assert.Equal([(0, 10.0), (1, 9.0), (2, 8.0)], again.Losses);
        Assert.Equal(4, File.ReadAllLines(path).Length);
        Assert.Equal([(0, 0.0), (1, 1.0), (2, 2.0)], again.Metric("acc"));
    }

    [Fact]
    public void VqVaeTrainer_ReducesTheReconstructionLossOfAFixedBatch()
    {
        using var trainer = new VqVaeTrainer(Options("vqvae", "a", 12) with { LearningRate = 1e-2 });
        var (x, _) = ShapesBatches.Load(trainer.Train, 0, 8);
        double Mse()
        {
            using var _ = no_grad();
            using var rec = trainer.Vae.forward(x, false).Rec_B3HW;
            return nn.functional.mse_loss(rec, x).item<float>();
        }
        double before = Mse();
        trainer.Run();
        double after = Mse();
        Assert.True(after < 0.93 * before, $"MSE {before} -> {after}");
    }

    [Theory]
    [InlineData(ScaleLossWeighting.Uniform)]
    [InlineData(ScaleLossWeighting.PerScale)]
    public void TokenWeights_SumToOneAndWeighTokensOrScalesAlike(ScaleLossWeighting weighting)
    {
        int[] patchNums = [1, 2, 4];   // 1 + 4 + 16 = 21 tokens
        var w = StarTrainer.TokenWeights(patchNums, weighting).data<float>().ToArray();
        Assert.Equal(21, w.Length);
        Assert.Equal(1.0, w.Sum(), 1e-5);
        if (weighting == ScaleLossWeighting.Uniform)
            Assert.All(w, x => Assert.Equal(1.0 / 21, x, 1e-6));
        else
        {
            Assert.Equal(1.0 / 3, w[0], 1e-6);                       // the 1x1 scale alone is a third of the loss
            Assert.Equal(1.0 / 3, w.Skip(1).Take(4).Sum(), 1e-6);
            Assert.Equal(1.0 / 3, w.Skip(5).Sum(), 1e-6);
            Assert.Equal(1.0 / 48, w[20], 1e-6);
        }
    }

    [Fact]
    public void StarTrainer_ResumesExactlyFromItsCheckpoint()
    {
        var straight = TrainTiny("straight", star: 4, starChunks: [4]);
        var resumed = TrainTiny("resumed", star: 4, starChunks: [2, 2], vqvaeOf: "straight");
        Assert.Equal(straight.Losses, resumed.Losses);
        Assert.Equal(straight.Weights.Keys.Order(), resumed.Weights.Keys.Order());
        foreach (var (k, v) in straight.Weights) Assert.Equal(v, resumed.Weights[k]);
    }

    [Fact]
    public void StarTrainer_ResumingWithoutTheProbeItWasStartedWith_SaysWhichOptionDiffers()
    {
        TrainTiny("probe", star: 2, starChunks: [1]);
        using var t = new StarTrainer(Options("star", "probe", 2) with { PromptProbeWeight = 0 });
        var e = Assert.Throws<InvalidDataException>(() => t.TryResume());
        Assert.Contains("[probe, text, transformer]", e.Message);
        Assert.Contains("[text, transformer]", e.Message);
        Assert.Contains("--prompt-probe", e.Message);
        Assert.Contains("--fresh", e.Message);
    }

    [Fact]
    public void StarTrainer_DropsAboutTenPercentOfPromptsAndTheLossFallsOnAFixedBatch()
    {
        TrainVqVae("drop", 2);
        using var trainer = new StarTrainer(Options("star", "drop", 10) with { LearningRate = 1e-2 });
        var dropped = Enumerable.Range(0, 200).SelectMany(s => trainer.DropPrompts(Enumerable.Repeat("a red circle", 10).ToList(), s)).Count(p => p == "");
        Assert.InRange(dropped, 150, 250);   // 10% of 2000
        Assert.Equal(trainer.DropPrompts(["a", "b", "c"], 7), trainer.DropPrompts(["a", "b", "c"], 7));

        var first = trainer.Log;
        trainer.Run();
        var losses = first.Losses.Select(l => l.Loss).ToArray();
        // Chance level is ln 32 = 3.466; a few steps at a high rate already learn the token statistics.
        Assert.True(losses.Skip(7).Average() < losses.Take(3).Average() - 0.03, string.Join(", ", losses.Select(l => l.ToString("F3"))));
    }

    [Fact]
    public void SamplerTrainer_TrainsOnlyTheHeadAndResumesExactly()
    {
        var straight = TrainTiny("s1", star: 2, starChunks: [2], sampler: 4, samplerChunks: [4]);
        var resumed = TrainTiny("s2", star: 2, starChunks: [2], sampler: 4, samplerChunks: [1, 3], vqvaeOf: "s1");
        Assert.Equal(straight.SamplerLosses, resumed.SamplerLosses);
        foreach (var (k, v) in straight.SamplerWeights) Assert.Equal(v, resumed.SamplerWeights[k]);
        // The main transformer is frozen in the sampler stage: its weights equal the star stage's.
        foreach (var (k, v) in straight.Weights.Where(kv => kv.Key.StartsWith("transformer.") && !StarTrainer.IsSamplerHeadParameter(kv.Key["transformer.".Length..])))
            Assert.Equal(v, straight.SamplerWeights[k]);
        Assert.Contains(straight.SamplerWeights.Keys, k => k.StartsWith("transformer.head_logits2") && !straight.Weights[k].SequenceEqual(straight.SamplerWeights[k]));
    }

    [Fact]
    public void SamplerTrainingMask_ShowsAboutThePredictedShare()
    {
        // E[arccos(r) / (pi/2)] over r ~ U(0,1) is 2/pi.
        manual_seed(3);
        using var mask = SamplerTrainer.TrainingMask(400, 50);
        double shown = mask.to_type(ScalarType.Float32).mean().item<float>();
        Assert.InRange(shown, 2 / Math.PI - 0.04, 2 / Math.PI + 0.04);
    }

    [Fact]
    public void Export_WritesAModelThatLoadsGeneratesAndEvaluates()
    {
        TrainTiny("exp", star: 2, starChunks: [2], sampler: 1, samplerChunks: [1]);
        var folder = Path.Combine(_dir, "model");
        ShapesTraining.Export(Path.Combine(_dir, "exp"), ShapesModelPreset.Tiny, folder);
        using var model = ModelStore.Load(folder);
        Assert.NotNull(model.SamplerHead);
        var loaded = ((Model.Transformers.StarTransformer)model.Transformer).Config;
        Assert.Equal(ShapesModelPreset.Tiny.Star.PatchNums, loaded.PatchNums);
        Assert.Equal(ShapesModelPreset.Tiny.Star with { PatchNums = loaded.PatchNums }, loaded);
        var prompts = new ShapesDataset(0, ShapesSplit.HeldOut, 32).HeldOutPrompts(6);
        var report = ModelEvaluation.Run(model, prompts, new EvalSettings { Batch = 4, Sampling = SamplingDefaults.General with { Cfg = 2, StableSampling = true } });
        Assert.Equal(6, report.Results.Count);
        Assert.Equal(6, report.Table.Total);
        Assert.All(report.Results, r => Assert.Equal((32, 32), (r.Image.Width, r.Image.Height)));
        var fails = Path.Combine(_dir, "fails.png");
        int n = ModelEvaluation.WriteFailures(fails, report);
        Assert.Equal(report.Results.Count(r => !r.Result.Passed), n);
        var lat = ModelEvaluation.Latency(model, prompts[0].Prompt, new EvalSettings(), runs: 2);
        Assert.True(lat.MedianFirstPreviewMs <= lat.MedianTotalMs);
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    void TrainVqVae(string run, int steps)
    {
        using var vq = new VqVaeTrainer(Options("vqvae", run, steps));
        vq.Run();
    }

    sealed record TinyRun(IReadOnlyList<(int, double)> Losses, Dictionary<string, float[]> Weights,
        IReadOnlyList<(int, double)> SamplerLosses, Dictionary<string, float[]> SamplerWeights);

    /// <summary>VQ-VAE 2 steps, then the star stage in chunks (a new trainer resuming for each), then the sampler stage.</summary>
    /// <param name="vqvaeOf">Copy that run's VQ-VAE stage instead of training one: a resume test then compares only the
    /// stage it is about (libtorch's CPU kernels can make two VQ-VAE trainings differ on some machines: TorchNativeLoader).</param>
    TinyRun TrainTiny(string run, int star, int[] starChunks, int sampler = 0, int[]? samplerChunks = null, string? vqvaeOf = null)
    {
        if (vqvaeOf is null) TrainVqVae(run, 2);
        else CopyFolder(Path.Combine(_dir, vqvaeOf, "vqvae"), Path.Combine(_dir, run, "vqvae"));
        IReadOnlyList<(int, double)> losses = [];
        var weights = new Dictionary<string, float[]>();
        foreach (int chunk in starChunks)
        {
            using var t = new StarTrainer(Options("star", run, star, chunk));
            t.TryResume();
            t.Run();
            losses = t.Log.Losses;
            weights = Weights(t.Transformer).ToDictionary(kv => "transformer." + kv.Key, kv => kv.Value);
            foreach (var (k, v) in Weights(t.TextEncoder)) weights["text." + k] = v;
        }
        IReadOnlyList<(int, double)> sLosses = [];
        var sWeights = new Dictionary<string, float[]>();
        foreach (int chunk in samplerChunks ?? [])
        {
            using var t = new SamplerTrainer(Options("sampler", run, sampler, chunk));
            t.TryResume();
            t.Run();
            sLosses = t.Log.Losses;
            sWeights = Weights(t.Transformer).ToDictionary(kv => "transformer." + kv.Key, kv => kv.Value);
        }
        return new TinyRun(losses, weights, sLosses, sWeights);
    }
}
