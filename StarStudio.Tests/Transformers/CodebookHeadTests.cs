using StarStudio.Model.Checkpoints;
using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

/// <summary>StarStudio's codebook-tied head (StarConfig.CodebookHead): codes scored by their distance to a predicted residual.</summary>
public class CodebookHeadTests
{
    [Fact]
    public void Logits_AreThePrecisionTimesMinusTheBiasedSquaredDistance_UpToAConstant()
    {
        using var codebook = randn(32, 8, generator: new Generator(1));
        using var head = TinyModels.Randomize(new CodebookHead(16, codebook), seed: 2);
        var sd = head.state_dict();
        using var h = randn(3, 5, 16, generator: new Generator(3));
        using var noGrad = no_grad();
        using var logits = head.forward(h);
        Assert.Equal([3L, 5, 32], logits.shape);

        // By hand: u and t from proj, then -exp(t) (|u - e_j|^2 - b_j) with the codes centred and divided by their
        // spread, which differs from the head's logits by the same exp(t) |u|^2 for every code of a token.
        using var ut = nn.functional.linear(h, sd["proj.weight"], sd["proj.bias"]);
        using var u = ut.narrow(-1, 0, 8);
        using var t = ut.narrow(-1, 8, 1);
        using var centred = codebook - codebook.mean([0], keepdim: true);
        using var unit = centred / centred.pow(2).sum(1).mean().sqrt();
        using var dist = (u.unsqueeze(-2) - unit).pow(2).sum(-1);                     // [3, 5, 32]
        using var expected = (dist - sd["bias"]).neg().mul(t.exp());
        using var a = logits.log_softmax(-1);
        using var b = expected.log_softmax(-1);
        Assert.True(TinyModels.MaxAbsDiff(a, b) < 1e-4, $"log-probabilities differ by {TinyModels.MaxAbsDiff(a, b)}");

        // With no bias, the top code is the nearest one, as the quantiser picks it.
        sd["bias"].zero_();
        using var top = head.forward(h).argmax(-1);
        using var nearest = dist.argmin(-1);
        Assert.Equal(nearest.data<long>().ToArray(), top.data<long>().ToArray());
    }

    [Fact]
    public void Mixture_IsTheLogOfTheMixedComponentProbabilities()
    {
        using var codebook = randn(32, 8, generator: new Generator(11));
        using var head = TinyModels.Randomize(new CodebookHead(16, codebook, components: 3), seed: 12, std: 0.1);
        using var centred = codebook - codebook.mean([0], keepdim: true);
        using var unit = centred / centred.pow(2).sum(1).mean().sqrt();
        var sd = head.state_dict();
        Assert.Equal([3L * 9 + 3, 16], sd["proj.weight"].shape);
        using var h = randn(2, 4, 16, generator: new Generator(13));
        using var noGrad = no_grad();
        using var logits = head.forward(h);
        Assert.Equal([2L, 4, 32], logits.shape);
        using var total = logits.exp().sum(-1);
        Assert.True(TinyModels.MaxAbsDiff(total, ones_like(total)) < 1e-5, "a mixture's logits are normalised log-probabilities");

        using var all = nn.functional.linear(h, sd["proj.weight"], sd["proj.bias"]);
        var p = zeros(2, 4, 32);
        using var mix = all.narrow(-1, 27, 3).softmax(-1);
        for (int k = 0; k < 3; k++)
        {
            var u = all.narrow(-1, k * 9, 8);
            var t = all.narrow(-1, k * 9 + 8, 1);
            var d = (u.unsqueeze(-2) - unit).pow(2).sum(-1);
            p += (d - sd["bias"]).neg().mul(t.exp()).softmax(-1).mul(mix.narrow(-1, k, 1));
        }
        using var expected = p.log();
        Assert.True(TinyModels.MaxAbsDiff(logits, expected) < 1e-4, $"differs by {TinyModels.MaxAbsDiff(logits, expected)}");
        Assert.Throws<ArgumentException>(() => new CodebookHead(16, codebook, components: 0).Dispose());
    }

    [Fact]
    public void Tie_CopiesTheCodebook_AndRefusesAnotherShape()
    {
        using var codebook = randn(32, 8, generator: new Generator(4));
        using var head = new CodebookHead(16, zeros(32, 8));
        head.Tie(codebook);
        Assert.Equal(0, TinyModels.MaxAbsDiff(head.state_dict()["codebook"], codebook));
        // The copy is the head's own: training the tokenizer's codebook later does not move it, and it is not trained.
        using (no_grad()) codebook.add_(1);
        Assert.Equal(1, TinyModels.MaxAbsDiff(head.state_dict()["codebook"], codebook), 5);
        Assert.DoesNotContain(head.named_parameters(), p => p.name == "codebook");
        // Started at a code, a head whose weights have not moved predicts that code for any input.
        head.Tie(codebook, startCode: 5);
        using (no_grad()) head.state_dict()["proj.weight"].zero_();
        using (var h = randn(4, 16, generator: new Generator(9)))
        using (var top = head.forward(h).argmax(-1))
            Assert.All(top.data<long>().ToArray(), c => Assert.Equal(5, c));
        var error = Assert.Throws<ArgumentException>(() => head.Tie(zeros(16, 8)));
        Assert.Contains("[16, 8]", error.Message);
    }

    [Fact]
    public void Star_WithCodebookHead_SavesTheCodebook_LoadsBack_AndCachedScalesMatchTeacherForced()
    {
        var cfg = TinyModels.Star() with { CodebookHead = 1 };
        using var codebook = randn(TinyModels.Vocab, TinyModels.Cvae, generator: new Generator(5));
        using var model = TinyModels.Randomize(new StarTransformer(cfg), seed: 6);
        model.TieHeadToCodebook(codebook);
        var sd = model.state_dict();
        Assert.Contains("head_codebook.codebook", sd.Keys);
        Assert.Contains("head_logits.weight", sd.Keys);   // the reference's head stays; the codebook head adds to it

        var cond = TinyModels.Text(seed: 7);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 8);
        using var noGrad = no_grad();
        var (logitsTf, hiddenTf) = model.Forward(x, cond);
        var (hiddenCached, logitsCached) = TinyModels.RunCached(model, x, cond);
        // The precision exp(t) makes these logits large (|logit| up to ~1e3 with random weights): compare relatively.
        double size = logitsTf.abs().max().item<float>();
        Assert.True(TinyModels.MaxAbsDiff(logitsTf, logitsCached) < 1e-5 * size, $"logits differ by {TinyModels.MaxAbsDiff(logitsTf, logitsCached)} of {size}");

        // A model built from model.json and loaded from the weights alone gives the same logits (codebook included).
        var again = TinyModels.FromManifestJson(TinyModels.ManifestJson(cfg));
        Assert.Equal(1, again.CodebookHead);
        Assert.Equal(0, TinyModels.FromManifestJson("{}").CodebookHead);
        using var loaded = new StarTransformer(again);
        StateDictLoader.Load(loaded, sd);
        loaded.eval();
        var (logitsLoaded, hiddenLoaded) = loaded.Forward(x, cond);
        Assert.Equal(0, TinyModels.MaxAbsDiff(logitsTf, logitsLoaded));

        using var plain = new StarTransformer(TinyModels.Star());
        Assert.Throws<InvalidOperationException>(() => plain.TieHeadToCodebook(codebook));
        foreach (var t in new[] { logitsTf, hiddenTf, hiddenCached, logitsCached, logitsLoaded, hiddenLoaded }) t.Dispose();
        TinyModels.DisposeAll(cond);
    }
}
