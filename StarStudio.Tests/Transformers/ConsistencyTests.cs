using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

/// <summary>Two code paths of the same model must agree: scale-by-scale with the KvCache vs one teacher-forced forward.</summary>
public class ConsistencyTests
{
    const double Atol = 1e-5;

    /// <summary>
    /// The residual stream of these random models grows to |h| ~ 40-350, where fp32 rounding alone is ~1e-5; the
    /// hidden states are compared relative to their magnitude (the logits, after the norm, keep the absolute 1e-5).
    /// </summary>
    static void AssertHiddenClose(Tensor a, Tensor b)
    {
        double diff = TinyModels.MaxAbsDiff(a, b);
        using var mag = a.abs().max();
        double tol = Atol + 2e-6 * mag.item<float>();
        Assert.True(diff < tol, $"hidden differs by {diff} (tolerance {tol})");
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(false, false, true)]
    public void Star_CachedScalesMatchTeacherForced(bool quirk, bool samplerHead, bool sharedAln)
    {
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star(samplerHead, quirk, sharedAln)), seed: 1);
        var cond = TinyModels.Text(seed: 2);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 3);
        using var noGrad = no_grad();

        var (logitsTf, hiddenTf) = model.Forward(x, cond);
        var (hiddenCached, logitsCached) = TinyModels.RunCached(model, x, cond);

        Assert.Equal([2L, 14, TinyModels.Vocab], logitsTf.shape);
        Assert.Equal(logitsTf.shape, logitsCached.shape);
        AssertHiddenClose(hiddenTf, hiddenCached);
        Assert.True(TinyModels.MaxAbsDiff(logitsTf, logitsCached) < Atol, $"logits differ by {TinyModels.MaxAbsDiff(logitsTf, logitsCached)}");
        // The rows carry different text, so they must not coincide (a broadcast bug would make them equal).
        Assert.True(TinyModels.MaxAbsDiff(logitsTf[0], logitsTf[1]) > 1e-3);
        using var viaInterface = model.ForwardTeacherForced(x, cond);
        Assert.True(TinyModels.MaxAbsDiff(viaInterface, logitsTf) == 0);
        foreach (var t in new[] { logitsTf, hiddenTf, hiddenCached, logitsCached }) t.Dispose();
        TinyModels.DisposeAll(cond);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Var_CachedScalesMatchTeacherForced(bool sharedAln)
    {
        using var model = TinyModels.Randomize(new VarTransformer(TinyModels.Var(sharedAln)), seed: 4);
        using var labels = tensor(new long[] { 3, 10 }); // a class and the unconditional label
        var cond = new ClassConditioning(labels);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 5);
        using var noGrad = no_grad();

        var (logitsTf, hiddenTf) = model.Forward(x, cond);
        var (hiddenCached, logitsCached) = TinyModels.RunCached(model, x, cond);

        Assert.Equal([2L, 14, TinyModels.Vocab], logitsTf.shape);
        AssertHiddenClose(hiddenTf, hiddenCached);
        Assert.True(TinyModels.MaxAbsDiff(logitsTf, logitsCached) < Atol, $"logits differ by {TinyModels.MaxAbsDiff(logitsTf, logitsCached)}");
        Assert.True(TinyModels.MaxAbsDiff(logitsTf[0], logitsTf[1]) > 1e-3);
        foreach (var t in new[] { logitsTf, hiddenTf, hiddenCached, logitsCached }) t.Dispose();
    }

    [Fact]
    public void Star_TeacherForcedIsScaleCausal()
    {
        // Changing the input of the last scale must leave every earlier token's logits untouched.
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star()), seed: 6);
        var cond = TinyModels.Text(seed: 7);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 8);
        using var x2 = x.clone();
        x2.narrow(1, 4, 9).add_(1.0); // tokens 5..13 = the 3x3 scale (input positions shift by first_l = 1)
        using var noGrad = no_grad();
        using var a = model.ForwardTeacherForced(x, cond);
        using var b = model.ForwardTeacherForced(x2, cond);
        Assert.Equal(0, TinyModels.MaxAbsDiff(a.narrow(1, 0, 5), b.narrow(1, 0, 5)));
        Assert.True(TinyModels.MaxAbsDiff(a.narrow(1, 5, 9), b.narrow(1, 5, 9)) > 1e-3);
        TinyModels.DisposeAll(cond);
    }

    [Fact]
    public void Star_PaddedTextTokensAreIgnored()
    {
        // Row 1's mask is 0 on tokens 3 and 4: their hidden states must not matter; row 0 sees all 5 tokens.
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star()), seed: 9);
        var cond = TinyModels.Text(seed: 10);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 11);
        using var noGrad = no_grad();
        using var before = model.ForwardTeacherForced(x, cond);
        cond.HiddenStates.narrow(1, 3, 2).add_(5.0);
        using var after = model.ForwardTeacherForced(x, cond);
        Assert.Equal(0, TinyModels.MaxAbsDiff(before[1], after[1]));
        Assert.True(TinyModels.MaxAbsDiff(before[0], after[0]) > 1e-3);
        TinyModels.DisposeAll(cond);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Star_CrossAttentionQuirk_BroadcastsRowZeroOnlyWhenOn(bool quirk)
    {
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star(quirk: quirk)), seed: 12);
        var cond = TinyModels.Text(seed: 13);
        var changed = TinyModels.Text(seed: 13, row0Shift: 1.0); // only row 0's text differs
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 14);
        using var noGrad = no_grad();
        using var a = model.ForwardTeacherForced(x, cond);
        using var b = model.ForwardTeacherForced(x, changed);
        double row1Change = TinyModels.MaxAbsDiff(a[1], b[1]);
        if (quirk) Assert.True(row1Change > 1e-3, $"row 1 moved only {row1Change}");
        else Assert.Equal(0, row1Change);
        Assert.True(TinyModels.MaxAbsDiff(a[0], b[0]) > 1e-3);
        TinyModels.DisposeAll(cond);
        TinyModels.DisposeAll(changed);
    }

    [Fact]
    public void Star_SamplerTrainingForwardMatchesInferenceHead()
    {
        // forward_sampler runs scales SampleFromIdx.. in one sequence; at inference the head sees one scale at a time.
        // With one tail scale (as the 256 px models: sample_from_idx 9 of 10 scales) both paths must agree exactly.
        // With several tail scales they differ in the reference too: the pooled token's row of the training mask is
        // open to every tail scale, and every token reads that pooled token back in the next block.
        var cfg = TinyModels.Star(samplerHead: true) with { SampleFromIdx = 2 };
        using var model = TinyModels.Randomize(new StarTransformer(cfg), seed: 15);
        var cond = TinyModels.Text(seed: 16);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 17);
        using var gen = new Generator(18);
        int bg = model.ScaleRange(cfg.SampleFromIdx).Begin, n = model.TotalTokens - bg; // the 3x3 scale: 9 tokens
        using var embed = randn([2, n, TinyModels.Cvae], generator: gen);
        using var mask = (rand([2, n], generator: gen) < 0.5).to_type(ScalarType.Float32);
        using var noGrad = no_grad();

        using var train = model.ForwardSampler(x, cond, embed, mask);
        Assert.Equal([2L, n, TinyModels.Vocab], train.shape);

        var (_, hidden) = model.Forward(x, cond);
        for (int si = cfg.SampleFromIdx; si < cfg.NumScales; si++)
        {
            var (b, e) = model.ScaleRange(si);
            using var committed = embed.narrow(1, b - bg, e - b) * mask.narrow(1, b - bg, e - b).unsqueeze(-1);
            using var infer = model.SamplerLogits(hidden.narrow(1, b, e - b), committed, si, cond);
            double diff = TinyModels.MaxAbsDiff(infer, train.narrow(1, b - bg, e - b));
            Assert.True(diff < Atol, $"scale {si}: sampler logits differ by {diff}");
        }
        hidden.Dispose();
        TinyModels.DisposeAll(cond);
    }

    [Fact]
    public void Star_SamplerTrainingBiasIsBlockDiagonalWithOpenPooledToken()
    {
        using var model = new StarTransformer(TinyModels.Star(samplerHead: true));
        using var bias = model.SamplerTrainingBias(); // pooled token + scale 1 (4 tokens) + scale 2 (9 tokens)
        Assert.Equal([1L, 1, 14, 14], bias.shape);
        float NegInf = float.NegativeInfinity;
        for (int i = 0; i < 14; i++)
            for (int j = 0; j < 14; j++)
            {
                int gi = i == 0 ? -1 : i <= 4 ? 1 : 2, gj = j == 0 ? -1 : j <= 4 ? 1 : 2;
                float expected = i == 0 || j == 0 || gi == gj ? 0f : NegInf;
                Assert.Equal(expected, bias[0, 0, i, j].item<float>());
            }
    }

    [Fact]
    public void ForwardScale_RejectsScalesOutOfOrder()
    {
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star()), seed: 19);
        var cond = TinyModels.Text(seed: 20);
        using var cache = model.NewCache();
        using var noGrad = no_grad();
        using var x1 = zeros(2, 4, 64);
        Assert.Throws<InvalidOperationException>(() => model.ForwardScale(x1, 1, cond, cache));
        using var x0 = model.StartTokens(cond);
        using var h0 = model.ForwardScale(x0, 0, cond, cache);
        Assert.Equal(1, cache.Length);
        Assert.Throws<InvalidOperationException>(() => model.ForwardScale(x0, 0, cond, cache));
        var other = TinyModels.Text(seed: 20);
        Assert.Throws<InvalidOperationException>(() => model.ForwardScale(x1, 1, other, cache)); // text changed mid-run
        TinyModels.DisposeAll(cond);
        TinyModels.DisposeAll(other);
    }

    [Fact]
    public void Var_RejectsLabelsOutOfRangeAndTextConditioning()
    {
        using var model = new VarTransformer(TinyModels.Var());
        using var bad = tensor(new long[] { 0, 11 });
        Assert.Throws<ArgumentException>(() => model.StartTokens(new ClassConditioning(bad)));
        var text = TinyModels.Text(seed: 21);
        Assert.Throws<ArgumentException>(() => model.StartTokens(text));
        TinyModels.DisposeAll(text);
    }
}
