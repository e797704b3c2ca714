using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

/// <summary>StarStudio's FFN local mix (StarConfig.LocalMixKernel): a depthwise conv over each scale's token map.</summary>
public class LocalMixTests
{
    static readonly int[] Sides = [1, 2, 3]; // 14 tokens

    [Fact]
    public void FreshLocalMix_StartsAsTheReferenceFfn()
    {
        using var plain = new FFN(8, 16);
        using var mixed = new FFN(8, 16, localMixKernel: 3);
        using (no_grad())
        {
            mixed.state_dict()["fc1.weight"].copy_(plain.state_dict()["fc1.weight"]);
            mixed.state_dict()["fc1.bias"].copy_(plain.state_dict()["fc1.bias"]);
            mixed.state_dict()["fc2.weight"].copy_(plain.state_dict()["fc2.weight"]);
            mixed.state_dict()["fc2.bias"].copy_(plain.state_dict()["fc2.bias"]);
        }
        Assert.Equal([8L, 1, 3, 3], mixed.state_dict()["local_mix.weight"].shape);
        Assert.DoesNotContain("local_mix.weight", plain.state_dict().Keys);
        using var x = randn(2, 14, 8, generator: new Generator(1));
        using var a = plain.forward(x);
        using var b = mixed.Forward(x, Sides);
        Assert.Equal(0, TinyModels.MaxAbsDiff(a, b));
    }

    [Fact]
    public void LocalMix_ReachesOnlyTheTokensNeighboursWithinItsOwnScale()
    {
        using var ffn = TinyModels.Randomize(new FFN(8, 16, localMixKernel: 3), seed: 2);
        using var x = randn(1, 14, 8, generator: new Generator(3));
        using var x2 = x.clone();
        x2[0, 5].add_(1.0); // token (0, 0) of the 3x3 scale (tokens 5..13)
        using var noGrad = no_grad();
        using var a = ffn.Forward(x, Sides);
        using var b = ffn.Forward(x2, Sides);
        double Moved(int token) => TinyModels.MaxAbsDiff(a[0, token], b[0, token]);
        foreach (int t in new[] { 5, 6, 8, 9 }) Assert.True(Moved(t) > 1e-4, $"token {t} is a 3x3 neighbour and must move");
        foreach (int t in new[] { 7, 10, 11, 12, 13 }) Assert.Equal(0, Moved(t));
        for (int t = 0; t < 5; t++) Assert.Equal(0, Moved(t)); // the 1x1 and 2x2 scales' maps are their own
        // Without sides (tokens that are not whole maps) the FFN is token-wise.
        using var c = ffn.Forward(x, null);
        using var d = ffn.Forward(x2, null);
        Assert.Equal(0, TinyModels.MaxAbsDiff(c[0, 6], d[0, 6]));
        Assert.Throws<ArgumentException>(() => ffn.Forward(x, [1, 2]).Dispose());
    }

    [Fact]
    public void LocalMix_IsTheDepthwiseConvOfEachScalesMap()
    {
        // FFN computes it as shifted multiply-adds; it must equal Conv2d(groups = hidden, padding k/2) on each map.
        using var ffn = TinyModels.Randomize(new FFN(8, 16, localMixKernel: 3), seed: 10);
        var sd = ffn.state_dict();
        using var x = randn(2, 14, 8, generator: new Generator(11));
        using var noGrad = no_grad();
        using var actual = ffn.Forward(x, Sides);
        var maps = new List<Tensor>();
        int begin = 0;
        foreach (int pn in Sides)
        {
            var map = x.narrow(1, begin, pn * pn).transpose(1, 2).reshape(2, 8, pn, pn);
            var conv = nn.functional.conv2d(map, sd["local_mix.weight"], sd["local_mix.bias"], padding: [1, 1], groups: 8);
            maps.Add(conv.reshape(2, 8, pn * pn).transpose(1, 2));
            begin += pn * pn;
        }
        var h = nn.functional.linear(x + cat(maps, 1), sd["fc1.weight"], sd["fc1.bias"]);
        var mixed = nn.functional.gelu(h, TorchSharp.Modules.GELU.Approximate.tanh);
        using var expected = nn.functional.linear(mixed, sd["fc2.weight"], sd["fc2.bias"]);
        Assert.True(TinyModels.MaxAbsDiff(actual, expected) < 1e-5, $"differs by {TinyModels.MaxAbsDiff(actual, expected)}");
    }

    [Fact]
    public void LocalMix_InputGradientsMatchFloat64()
    {
        // libtorch's oneDNN conv backward was wrong on these CPUs for some channel counts (Vae/SafeConv2d.cs); the
        // depthwise conv here must give the float64 gradients.
        using var ffn = TinyModels.Randomize(new FFN(16, 64, localMixKernel: 3), seed: 4);
        using var ffn64 = TinyModels.Randomize(new FFN(16, 64, localMixKernel: 3), seed: 4);
        ffn64.to(ScalarType.Float64);
        int[] sides = [1, 2, 3, 4, 6, 8];
        int L = sides.Sum(s => s * s);
        using var x = randn(4, L, 16, generator: new Generator(5)).requires_grad_();
        using var x64 = x.detach().to(ScalarType.Float64).requires_grad_();
        using var w = randn(4, L, 16, generator: new Generator(6));
        ffn.Forward(x, sides).mul(w).sum().backward();
        ffn64.Forward(x64, sides).mul(w.to(ScalarType.Float64)).sum().backward();
        using var diff = (x.grad!.to(ScalarType.Float64) - x64.grad!).abs().max();
        using var mag = x64.grad!.abs().max();
        Assert.True(diff.item<double>() < 1e-4 * mag.item<double>(), $"input gradient off by {diff.item<double>()} (|grad| {mag.item<double>()})");
    }

    [Fact]
    public void Star_WithLocalMix_CachedScalesMatchTeacherForced_AndStayScaleCausal()
    {
        var cfg = TinyModels.Star() with { LocalMixKernel = 3 };
        using var model = TinyModels.Randomize(new StarTransformer(cfg), seed: 7);
        var cond = TinyModels.Text(seed: 8);
        using var x = TinyModels.TeacherInput(model.TotalTokens, seed: 9);
        using var noGrad = no_grad();
        var (logitsTf, hiddenTf) = model.Forward(x, cond);
        var (hiddenCached, logitsCached) = TinyModels.RunCached(model, x, cond);
        Assert.True(TinyModels.MaxAbsDiff(logitsTf, logitsCached) < 1e-5, $"logits differ by {TinyModels.MaxAbsDiff(logitsTf, logitsCached)}");

        using var x2 = x.clone();
        x2.narrow(1, 4, 9).add_(1.0); // the 3x3 scale's inputs
        using var a = model.ForwardTeacherForced(x, cond);
        using var b = model.ForwardTeacherForced(x2, cond);
        Assert.Equal(0, TinyModels.MaxAbsDiff(a.narrow(1, 0, 5), b.narrow(1, 0, 5)));

        // model.json keeps the option (older manifests lack it and read as off).
        string json = TinyModels.ManifestJson(cfg);
        Assert.Contains("\"local_mix_kernel\": 3", json);
        Assert.Equal(0, TinyModels.FromManifestJson("{}").LocalMixKernel);
        foreach (var t in new[] { logitsTf, hiddenTf, hiddenCached, logitsCached }) t.Dispose();
        TinyModels.DisposeAll(cond);
    }

    [Theory]
    [InlineData(2, 4.0, "LocalMixKernel")]
    [InlineData(-1, 4.0, "LocalMixKernel")]
    [InlineData(17, 4.0, "LocalMixKernel")]
    [InlineData(0, 0.0, "AttnScaleInit")]
    [InlineData(0, 150.0, "AttnScaleInit")]
    [InlineData(0, double.NaN, "AttnScaleInit")]
    public void Star_RefusesOptionValuesThatCannotTrain(int kernel, double scaleInit, string named)
    {
        var cfg = TinyModels.Star() with { LocalMixKernel = kernel, AttnScaleInit = scaleInit };
        Assert.Contains(named, Assert.Throws<ArgumentException>(() => new StarTransformer(cfg).Dispose()).Message);
    }
}
