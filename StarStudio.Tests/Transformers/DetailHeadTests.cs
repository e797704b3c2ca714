using StarStudio.Model.Checkpoints;
using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

/// <summary>StarStudio's detail head (StarConfig.DetailHeadFromScale): a conv net over a scale's map adding to head_logits.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class DetailHeadTests
{
    [Fact]
    public void Head_ReadsTheMapRowMajor_AndOnlyNeighboursWithinItsReach()
    {
        // Two 3x3 convs then a 1x1: a token's logits depend on the tokens within Chebyshev distance 2 of it.
        using var head = TinyModels.Randomize(new DetailHead(width: 8, hidden: 16, layers: 2, vocab: 5), seed: 1);
        const int side = 6;
        using var x = randn(1, side * side, 8, generator: new Generator(2));
        using var h = randn(1, side * side, 8, generator: new Generator(3));
        using var noGrad = no_grad();
        using var before = head.forward(x, h, side);
        Assert.Equal([1L, side * side, 5], before.shape);
        using var moved = x.clone();
        moved[0, 0 * side + 1] += 1;                        // the token at row 0, column 1
        using var after = head.forward(moved, h, side);
        using var changed = (after - before).abs().amax(-1).gt(1e-6).view(side, side);
        for (int r = 0; r < side; r++)
            for (int c = 0; c < side; c++)
            {
                bool reachable = Math.Max(Math.Abs(r - 0), Math.Abs(c - 1)) <= 2;
                if (!reachable) Assert.False(changed[r, c].item<bool>(), $"({r}, {c}) changed, out of reach of (0, 1)");
            }
        // Row 0, column 3 is within reach and changes; row 3, column 0 (where a transposed map would put it) is not.
        Assert.True(changed[0, 3].item<bool>());
        Assert.False(changed[3, 0].item<bool>());
        Assert.Throws<ArgumentException>(() => head.forward(x, h, side + 1));
    }

    [Fact]
    public void FreshHead_AddsNothing_ATrainedOneOnlyFromItsScale_AndCachedScalesMatchTeacherForced()
    {
        var cfg = TinyModels.Star() with { DetailHeadFromScale = 2, DetailHeadWidth = 16, DetailHeadLayers = 2 };
        using var plain = TinyModels.Randomize(new StarTransformer(TinyModels.Star()), seed: 6);
        using var model = new StarTransformer(cfg);
        Assert.Contains("head_detail.output.weight", model.state_dict().Keys);
        // A checkpoint without the head loads into a model with one: the fresh head leaves every logit as it was.
        StateDictLoader.Load(model, plain.state_dict(), StateDictLoadOptions.Default with { IgnorePrefixes = ["head_detail."] });
        model.eval();
        var cond = TinyModels.Text(seed: 7);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 8);
        using var noGrad = no_grad();
        var (plainLogits, plainHidden) = plain.Forward(x, cond);
        var (freshLogits, freshHidden) = model.Forward(x, cond);
        Assert.Equal(0, TinyModels.MaxAbsDiff(plainLogits, freshLogits));

        // Trained (here: random) weights change the logits of scale 2 (the 3x3 tokens, 5..13) and of no coarser scale.
        using (var gen = new Generator(9))
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.StartsWith("head_detail.")))
                p.copy_(randn(p.shape, generator: gen) * 0.3);
        var (logits, hidden) = model.Forward(x, cond);
        var (begin, _) = model.ScaleRange(2);
        Assert.Equal(0, TinyModels.MaxAbsDiff(logits.narrow(1, 0, begin), plainLogits.narrow(1, 0, begin)));
        Assert.True(TinyModels.MaxAbsDiff(logits.narrow(1, begin, 9), plainLogits.narrow(1, begin, 9)) > 1e-2);
        Assert.Equal(0, TinyModels.MaxAbsDiff(hidden, plainHidden));   // the head reads the transformer, never feeds it
        // The stages that do not train the head leave it out: then the logits are head_logits's alone.
        var (withoutHead, withoutHeadHidden) = model.Forward(x, cond, withDetailHead: false);
        Assert.Equal(0, TinyModels.MaxAbsDiff(withoutHead, plainLogits));
        withoutHead.Dispose(); withoutHeadHidden.Dispose();

        var (hiddenCached, logitsCached) = TinyModels.RunCached(model, x, cond);
        Assert.True(TinyModels.MaxAbsDiff(logits, logitsCached) < 1e-4, $"logits differ by {TinyModels.MaxAbsDiff(logits, logitsCached)}");
        // The head reads the scale's input tokens: asking for its logits without them is a clear error, not a silent miss.
        using var cache = model.NewCache();
        var error = Assert.Throws<ArgumentException>(() => model.Logits(hiddenCached.narrow(1, begin, 9), 2, cond));
        Assert.Contains("input tokens", error.Message);
        Assert.True(model.HasDetailHeadAt(2));
        Assert.False(model.HasDetailHeadAt(1));

        // model.json carries the option; files without it build the reference's heads alone.
        var again = TinyModels.FromManifestJson(TinyModels.ManifestJson(cfg));
        Assert.Equal((2, 16, 2), (again.DetailHeadFromScale, again.DetailHeadWidth, again.DetailHeadLayers));
        Assert.Equal(0, TinyModels.FromManifestJson("{}").DetailHeadFromScale);
        foreach (var t in new[] { plainLogits, plainHidden, freshLogits, freshHidden, logits, hidden, hiddenCached, logitsCached }) t.Dispose();
        TinyModels.DisposeAll(cond);
    }

    [Theory]
    [InlineData(-1, 128, 4, "DetailHeadFromScale")]
    [InlineData(3, 128, 4, "DetailHeadFromScale")]
    [InlineData(1, 0, 4, "DetailHeadWidth")]
    [InlineData(1, 128, 0, "DetailHeadLayers")]
    public void Config_RefusesAbsurdDetailHeads(int from, int width, int layers, string named)
    {
        var cfg = TinyModels.Star() with { DetailHeadFromScale = from, DetailHeadWidth = width, DetailHeadLayers = layers };
        var error = Assert.Throws<ArgumentException>(cfg.Validate);
        Assert.Contains(named, error.Message);
    }
}
