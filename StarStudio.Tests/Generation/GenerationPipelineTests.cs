using StarStudio.Model.Generation;
using TorchSharp;

namespace StarStudio.Tests.Generation;

/// <summary>End-to-end generation on small random-weight models: the real pipeline, transformer, sampler and VQ-VAE.</summary>
[Collection(TorchStateCollection.Name)]
public class GenerationPipelineTests : IClassFixture<TinyModels>
{
    readonly TinyModels _models;
    public GenerationPipelineTests(TinyModels models) => _models = models;

    GenerationPipeline Star => new(_models.Star);

    static GenerationRequest Prompt(string prompt = "a red circle on a blue background", long seed = 1, double cfg = 3) =>
        new() { Prompts = [prompt], Seed = seed, Cfg = cfg, TopK = 0, TopP = 0 };

    [Fact]
    public void Generate_StreamsOneFramePerScale()
    {
        var frames = Star.Generate(Prompt()).ToList();
        var patchNums = _models.Star.Transformer.PatchNums;
        Assert.Equal(patchNums.Count, frames.Count);
        for (int si = 0; si < frames.Count; si++)
        {
            var f = frames[si];
            Assert.Equal(si, f.ScaleIndex);
            Assert.Equal(patchNums[si], f.Side);
            Assert.Equal(patchNums[si] * patchNums[si], f.Tokens[0].Length);
            Assert.All(f.Tokens[0], t => Assert.InRange(t, 0, _models.Star.Limits.VocabSize - 1));
            Assert.All(f.Confidence[0], c => Assert.InRange(c, 0f, 1f));
            var image = Assert.Single(f.Images!);
            int side = patchNums[^1] * _models.Star.Vae.Config.DownsampleFactor;
            Assert.Equal((side, side), (image.Width, image.Height));
            Assert.True(f.Timings.ElapsedMs >= (si > 0 ? frames[si - 1].Timings.ElapsedMs : 0));
        }
        Assert.True(frames[^1].IsLast);
        // Previews really change as scales are added.
        Assert.NotEqual(frames[0].Images![0].Pixels, frames[^1].Images![0].Pixels);
    }

    [Fact]
    public void Generate_SameSeedRepeatsExactly_NewSeedDiffers()
    {
        var a = Star.Generate(Prompt(seed: 42)).ToList();
        var b = Star.Generate(Prompt(seed: 42)).ToList();
        var c = Star.Generate(Prompt(seed: 43)).ToList();
        for (int si = 0; si < a.Count; si++) Assert.Equal(a[si].Tokens[0], b[si].Tokens[0]);
        Assert.Equal(a[^1].Images![0].Pixels, b[^1].Images![0].Pixels);
        Assert.NotEqual(a.SelectMany(f => f.Tokens[0]), c.SelectMany(f => f.Tokens[0]));
    }

    [Fact]
    public void Generate_BatchRowsEqualSingleRuns()
    {
        var batch = Star.Generate(new GenerationRequest
        {
            Prompts = ["a red circle", "two green stars on a black background"], Seeds = [5, 9], Cfg = 2, TopP = 0,
        }).ToList();
        var first = Star.Generate(Prompt("a red circle", seed: 5, cfg: 2)).ToList();
        var second = Star.Generate(Prompt("two green stars on a black background", seed: 9, cfg: 2)).ToList();
        for (int si = 0; si < batch.Count; si++)
        {
            Assert.Equal(first[si].Tokens[0], batch[si].Tokens[0]);
            Assert.Equal(second[si].Tokens[0], batch[si].Tokens[1]);
        }
    }

    [Fact]
    public void Generate_CancelledAfterAScale_StopsBeforeTheNext()
    {
        using var cts = new CancellationTokenSource();
        var received = new List<ScaleFrame>();
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var frame in Star.Generate(Prompt(), cts.Token))
            {
                received.Add(frame);
                if (frame.ScaleIndex == 1) cts.Cancel();
            }
        });
        Assert.Equal(2, received.Count);
        // The model is still usable afterwards.
        Assert.Equal(_models.Star.Limits.ScaleCount, Star.Generate(Prompt()).Count());
    }

    [Fact]
    public void Generate_GuidanceFree_RunsHalfTheRowsAndMatchesZeroWeightGuidance()
    {
        var spy = new RowCountingTransformer(_models.Star.Transformer);
        using var model = _models.StarWith(spy);
        var free = new GenerationPipeline(model).Generate(Prompt(cfg: 0)).ToList();
        Assert.All(spy.Rows, r => Assert.Equal(1, r));
        spy.Rows.Clear();
        // A vanishing guidance weight doubles the rows but must pick the same tokens.
        var tiny = new GenerationPipeline(model).Generate(Prompt(cfg: 1e-9)).ToList();
        Assert.All(spy.Rows, r => Assert.Equal(2, r));
        for (int si = 0; si < free.Count; si++) Assert.Equal(free[si].Tokens[0], tiny[si].Tokens[0]);
    }

    [Fact]
    public void Fork_SameSeedReproducesTheRun_NewSeedKeepsTheCoarseScales()
    {
        var original = Star.Generate(Prompt(seed: 7)).ToList();
        int k = 2;
        var prefix = original.Take(k).Select(f => (IReadOnlyList<int[]>)f.Tokens).ToList();

        var same = Star.Generate(Prompt(seed: 7) with { PrefixTokens = prefix }).ToList();
        for (int si = 0; si < original.Count; si++) Assert.Equal(original[si].Tokens[0], same[si].Tokens[0]);

        var forked = Star.Generate(Prompt(seed: 8) with { PrefixTokens = prefix }).ToList();
        for (int si = 0; si < k; si++) Assert.Equal(original[si].Tokens[0], forked[si].Tokens[0]);
        Assert.NotEqual(original.Skip(k).SelectMany(f => f.Tokens[0]), forked.Skip(k).SelectMany(f => f.Tokens[0]));
    }

    [Fact]
    public void Generate_DoesNotLeakTensors()
    {
        Star.Generate(Prompt()).ToList(); // warm-up: lazily created caches
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Star.Generate(Prompt(seed: 3)).ToList();
        Star.Generate(Prompt(seed: 4) with { MoreSmooth = true }).ToList();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.Equal(before, after);
    }

    [Fact]
    public void MoreSmooth_ProducesAnImageThatDiffersFromHardSampling()
    {
        var hard = Star.Generate(Prompt(seed: 11)).Last();
        var smooth = Star.Generate(Prompt(seed: 11) with { MoreSmooth = true }).Last();
        Assert.NotEqual(hard.Images![0].Pixels, smooth.Images![0].Pixels);
    }

    [Fact]
    public void StableSampling_CommitsEveryTokenAndIsRepeatable()
    {
        var pipeline = new GenerationPipeline(_models.StarWithSampler);
        var request = Prompt(seed: 5) with { StableSampling = true };
        var a = pipeline.Generate(request).ToList();
        var b = pipeline.Generate(request).ToList();
        for (int si = 0; si < a.Count; si++) Assert.Equal(a[si].Tokens[0], b[si].Tokens[0]);
        // From the sampler's first scale on, every position got a committed token with its probability.
        int from = _models.StarWithSampler.StableSamplerFromScale;
        Assert.All(a.Skip(from), f => Assert.All(f.Confidence[0], c => Assert.True(c > 0)));
        var plain = pipeline.Generate(Prompt(seed: 5)).ToList();
        for (int si = 0; si < from; si++) Assert.Equal(plain[si].Tokens[0], a[si].Tokens[0]);
    }

    [Fact]
    public void Var_GeneratesFromClassLabels()
    {
        var frames = new GenerationPipeline(_models.Var).Generate(new GenerationRequest { ClassLabels = [3, 7], Seed = 1, Cfg = 1.5 }).ToList();
        Assert.Equal(_models.Var.Limits.ScaleCount, frames.Count);
        Assert.Equal(2, frames[^1].Images!.Count);
    }

    [Fact]
    public void Generate_ReportsUnknownWordsAndTruncation()
    {
        var frames = Star.Generate(Prompt("a red unicorn " + string.Join(' ', Enumerable.Repeat("red", 40)))).ToList();
        Assert.Contains(frames[0].Notices, n => n.Contains("'unicorn'"));
        Assert.Contains(frames[0].Notices, n => n.Contains("at most"));
        Assert.All(frames.Skip(1), f => Assert.Empty(f.Notices));
    }

    [Fact]
    public void Generate_RejectsAbsurdParametersWithEveryProblemNamed()
    {
        var e = Assert.Throws<InvalidGenerationRequestException>(() =>
            Star.Generate(Prompt() with { Cfg = 50, TopK = 1_000_000, TopP = 1.5, Seed = -1 }));
        Assert.Equal(["cfg", "top-k", "top-p", "seed"], e.Errors.Select(x => x.Field));
        Assert.Contains("between 0 and 20", e.Message);
        Assert.Throws<InvalidGenerationRequestException>(() => Star.Generate(new GenerationRequest { ClassLabels = [1] }));
    }
}

[Collection(TorchStateCollection.Name)]
public class CrossAttentionQuirkTests
{
    [Fact]
    public void QuirkModel_RefusesBatchesSoPromptsNeverMix()
    {
        using var model = RandomModels.Create("tiny-star");
        var star = (StarStudio.Model.Transformers.StarTransformer)model.Transformer;
        var quirky = new StarStudio.Model.Transformers.StarTransformer(star.Config with { CrossAttentionBatchQuirk = true });
        using var quirkModel = new ScaleWiseModel("quirk", quirky, model.Vae, model.TextEncoder, 10, 2, model.Device, ownsModules: false);
        var e = Assert.Throws<InvalidGenerationRequestException>(() =>
            new GenerationPipeline(quirkModel).Generate(new GenerationRequest { Prompts = ["a", "b"] }));
        Assert.Contains("one image at a time", e.Message);
        Assert.Equal(4, new GenerationPipeline(quirkModel).Generate(new GenerationRequest { Prompts = ["a red circle"] }).Count());
        quirky.Dispose();
    }

    [Fact]
    public void Model_RefusesAVqVaeWithAnotherScaleSchedule()
    {
        using var model = RandomModels.Create("tiny-star");
        var patchNums = model.Transformer.PatchNums;
        // Same codebook and latent side, the 3x3 scale left out: the pipeline would fail at its first scale, far from the cause.
        using var vae = new StarStudio.Model.Vae.VQVAE(model.Vae.Config with { VPatchNums = [.. patchNums.Where(pn => pn != 3)] });
        var e = Assert.Throws<ArgumentException>(() => new ScaleWiseModel("mismatch", model.Transformer, vae, model.TextEncoder, 10, 2, model.Device, ownsModules: false));
        Assert.Contains($"Transformer scales ({string.Join(", ", patchNums)})", e.Message);
        Assert.Contains("v_patch_nums", e.Message);
    }
}
