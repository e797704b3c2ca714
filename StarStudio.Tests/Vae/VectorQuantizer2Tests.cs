using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using static StarStudio.Tests.Vae.VaeTestConfigs;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Tests.Vae;

public class VectorQuantizer2Tests
{
    static VectorQuantizer2 HandQuantizer(VqVaeConfig config, float[,] codebook)
    {
        var q = new VectorQuantizer2(config);
        using (no_grad()) q.Embedding.weight!.copy_(tensor(codebook));
        return q;
    }

    [Fact]
    public void NearestIndices_L2PicksClosestCode()
    {
        using var q = HandQuantizer(Tiny with { VocabSize = 3, Cvae = 2 }, new float[,] { { 0, 0 }, { 1, 0 }, { 0, 1 } });
        var z = tensor(new float[,] { { 0.9f, 0.1f }, { 0.1f, 0.2f }, { -1f, 2f }, { 0.4f, 0.45f } });
        // squared distances to (0,0), (1,0), (0,1): row 3 = .3625, .5625, .4625 -> code 0.
        Assert.Equal([1L, 0L, 2L, 0L], Longs(q.NearestIndices(z)));
    }

    [Fact]
    public void PreferredCodeBias_SnapsSmallResidualsToTheSmallestCodeOnly()
    {
        // The smallest code is row 2 (norm^2 .0025), not row 0: the bias follows the vector, not the index.
        var codebook = new float[,] { { 1, 0 }, { 0.1f, 0.1f }, { 0.05f, 0 }, { 0, 1 } };
        var z = tensor(new float[,] { { 0.11f, 0.09f }, { 0.12f, 0.12f }, { 0.9f, 0.1f }, { 0.3f, 0.3f } });
        using var plain = HandQuantizer(Tiny with { VocabSize = 4, Cvae = 2 }, codebook);
        Assert.Equal(2, plain.PreferredCode());
        Assert.Equal([1L, 1L, 0L, 1L], Longs(plain.NearestIndices(z)));
        // Bias .04: row 0 of z is .0002 from code 1 and .0117 from code 2 -> code 2; row 1 (.0008 vs .0193) too.
        // Row 3 is .08 from code 1 and .1525 from code 2: the difference (.0725) exceeds the bias, so code 1 stays.
        using var biased = HandQuantizer(Tiny with { VocabSize = 4, Cvae = 2, PreferredCodeBias = 0.04 }, codebook);
        Assert.Equal([2L, 2L, 0L, 1L], Longs(biased.NearestIndices(z)));
    }

    [Fact]
    public void PreferredCodeBias_RejectsNegativeOrNonFinite()
    {
        Assert.Throws<ArgumentException>(() => (Tiny with { PreferredCodeBias = -0.1 }).Validate());
        Assert.Throws<ArgumentException>(() => (Tiny with { PreferredCodeBias = double.NaN }).Validate());
        Assert.Throws<ArgumentException>(() => (Tiny with { PreferredCodeBias = double.PositiveInfinity }).Validate());
    }

    [Fact]
    public void NearestIndices_ZNormPicksHighestCosine()
    {
        using var q = HandQuantizer(Tiny with { VocabSize = 3, Cvae = 2, UsingZNorm = true }, new float[,] { { 1, 1 }, { 1, 0 }, { 0, 1 } });
        var z = tensor(new float[,] { { 0.9f, 0.1f }, { 0.1f, 0.9f }, { 3f, 1.2f }, { -1f, 2f } });
        // Direction decides: (3, 1.2) is nearer to (1,1) in L2 (4.04 vs 5.44) but closer in angle to (1,0) (cos .928 vs .919).
        Assert.Equal([1L, 2L, 1L, 2L], Longs(q.NearestIndices(z)));
    }

    [Fact]
    public void IdxBlToVarInput_HandCheckedConstantMaps()
    {
        // Scales 1, 2, 4 (SN = 3): scale 0 uses Phi 0 (position 0), scale 1 Phi 2 (position 0.5 is nearest to 7/12).
        // Every Phi's conv is zeroed, so Phi_k(h) = 0.5 h + 0.5 b_k with b_k = (10(k+1), -(k+1)).
        var config = Tiny with { VocabSize = 3, Cvae = 2, VPatchNums = [1, 2, 4] };
        using var q = HandQuantizer(config, new float[,] { { 1, 2 }, { 3, -1 }, { 0.5f, 0.5f } });
        using (no_grad())
            for (int k = 0; k < 4; k++)
            {
                var phi = (Phi)q.QuantResi.At(k);
                phi.Weight.zero_();
                phi.Bias.copy_(tensor(new[] { 10f * (k + 1), -(k + 1f) }));
            }
        var idx0 = tensor(new long[,] { { 1 } });
        var idx1 = full(1, 4, 2L, ScalarType.Int64);
        var idx2 = zeros(1, 16, ScalarType.Int64);
        using var x_BLC = q.IdxBlToVarInput([idx0, idx1, idx2])!;

        Assert.Equal([1L, 4 + 16, 2], x_BLC.shape);
        // Constant maps stay constant under bicubic up and area down.
        // Scale 1 input: 0.5*(3,-1) + 0.5*(10,-1) = (6.5, -1).
        // Scale 2 input: that + 0.5*(0.5,0.5) + 0.5*(30,-3) = (21.75, -2.25).
        var v = Values(x_BLC);
        for (int t = 0; t < 20; t++)
        {
            (float a, float b) = t < 4 ? (6.5f, -1f) : (21.75f, -2.25f);
            Assert.Equal(a, v[2 * t], 4);
            Assert.Equal(b, v[2 * t + 1], 4);
        }
    }

    [Fact]
    public void GetNextAutoregressiveInput_UpsamplesBicubicAndDownsamplesArea()
    {
        // Identity Phis isolate the resampling: f_hat gains exactly bicubic(h), and next is area(f_hat).
        using var q = new VectorQuantizer2(Tiny with { QuantResi = 0, VPatchNums = [1, 2, 3, 5] });
        var g = new Generator(7);
        var f_hat = randn([2, 4, 5, 5], generator: g);
        var before = f_hat.clone();
        var h_BChw = randn([2, 4, 2, 2], generator: g);

        var (same, next) = q.GetNextAutoregressiveInput(1, 4, f_hat, h_BChw);

        Assert.Same(f_hat, same);
        var bicubic = F.interpolate(h_BChw, [5, 5], mode: InterpolationMode.Bicubic, align_corners: false);
        AssertClose(before + bicubic, f_hat, 1e-6, "f_hat += bicubic(h)");
        AssertClose(F.interpolate(f_hat, [3, 3], mode: InterpolationMode.Area), next, 1e-6, "next = area(f_hat)");
        // The modes matter: bilinear would give visibly different maps, so a swapped mode fails above.
        var bilinearUp = F.interpolate(h_BChw, [5, 5], mode: InterpolationMode.Bilinear);
        Assert.True((bilinearUp - bicubic).abs().max().item<float>() > 1e-2);
        var bilinearDown = F.interpolate(f_hat, [3, 3], mode: InterpolationMode.Bilinear);
        Assert.True((bilinearDown - next).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void GetNextAutoregressiveInput_LastScaleAddsWithoutResampling()
    {
        using var q = new VectorQuantizer2(Tiny with { QuantResi = 0 });
        var f_hat = ones(1, 4, 4, 4);
        var h = full(1, 4, 4, 4, 2f);
        var (fOut, next) = q.GetNextAutoregressiveInput(3, 4, f_hat, h);
        Assert.Same(f_hat, fOut);
        Assert.Same(f_hat, next);
        Assert.All(Values(f_hat), v => Assert.Equal(3f, v));
    }

    [Fact]
    public void AreaDownsample_IsBlockMean()
    {
        var x = arange(16, ScalarType.Float32).view(1, 1, 4, 4);
        using var y = F.interpolate(x, [2, 2], mode: InterpolationMode.Area);
        // blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}
        Assert.Equal([2.5f, 4.5f, 10.5f, 12.5f], Values(y));
    }

    [Fact]
    public void TrainingForward_StraightThroughLossAndUsage()
    {
        manual_seed(11);
        using var q = new VectorQuantizer2(Tiny);
        q.train();
        var f = randn([2, 4, 4, 4], generator: new Generator(3)).requires_grad_(true);
        var fHats = q.FToIdxBlOrFhat(f, toFhat: true);
        var idx = q.FToIdxBlOrFhat(f, toFhat: false);

        var output = q.call(f, true);

        // Value: the quantised f_hat; gradient: identity to f (straight-through).
        AssertClose(fHats[^1], output.FHat_BChw.detach(), 1e-5, "straight-through value");
        output.FHat_BChw.sum().backward();
        AssertClose(ones_like(f), f.grad!, 1e-6, "straight-through gradient");

        // Both loss terms equal |f_hat_si - f|^2 in value: loss = (1 + beta) / SN * sum over scales.
        double expected = fHats.Sum(fh => F.mse_loss(fh, f.detach()).item<float>()) * 1.25 / 4;
        Assert.Equal(expected, output.VqLoss.item<float>(), 4);

        // EMA: record_hit counts scales, so only scale 0 of the first step copies; the others take 0.1 * hits.
        Assert.Equal(4, q.RecordHit);
        var usages = output.Usages!;
        double margin = 2 * 4 * 4 / 16.0 * 0.08;   // B*H*W / V * 0.08
        for (int si = 0; si < 4; si++)
        {
            var hits = new double[16];
            foreach (long t in Longs(idx[si])) hits[t] += 1;
            double factor = si == 0 ? 1.0 : 0.1;
            var ema = Values(q.EmaVocabHitSV[si]);
            for (int v = 0; v < 16; v++) Assert.Equal(factor * hits[v], ema[v], 5);
            Assert.Equal(100.0 * hits.Count(h => factor * h >= margin) / 16, usages[si], 4);
        }
    }

    [Fact]
    public void TrainingForward_EvalModeLeavesEmaAlone()
    {
        using var q = new VectorQuantizer2(Tiny);
        q.eval();
        var output = q.call(randn(1, 4, 4, 4), false);
        Assert.Null(output.Usages);
        Assert.Equal(0, q.RecordHit);
        Assert.Equal(0f, q.EmaVocabHitSV.abs().sum().item<float>());
    }

    [Fact]
    public void FToIdxBlOrFhat_RejectsLatentOfWrongSize()
    {
        using var q = new VectorQuantizer2(Tiny);
        var ex = Assert.Throws<ArgumentException>(() => q.FToIdxBlOrFhat(zeros(1, 4, 5, 5), toFhat: false));
        Assert.Contains("[B, 4, 4, 4]", ex.Message);
    }

    [Fact]
    public void FToIdxBlOrFhat_CustomRectangularScales()
    {
        manual_seed(5);
        using var q = new VectorQuantizer2(Tiny);
        var idx = q.FToIdxBlOrFhat(randn(2, 4, 4, 4), toFhat: false, [(1, 2), (2, 3), (4, 4)]);
        Assert.Equal([[2L, 2], [2L, 6], [2L, 16]], idx.Select(t => t.shape));
        Assert.All(idx, t => Assert.InRange(t.max().item<long>(), 0, 15));
    }

    [Fact]
    public void ForwardKeeping_SumsTheKeptScalesAndPassesTheGradientThroughTheirLowPass()
    {
        manual_seed(3);
        using var q = new VectorQuantizer2(Tiny);
        q.train();
        var pn = q.VPatchNums;
        int S = pn.Count, H = pn[^1];
        var f = randn(2, Tiny.Cvae, H, H).requires_grad_(true);
        var w = randn(2, Tiny.Cvae, H, H);
        List<Tensor> partial;
        using (no_grad()) partial = [.. q.FToIdxBlOrFhat(f.detach(), toFhat: true)];

        for (int keep = 1; keep <= S; keep++)
        {
            f.grad?.zero_();
            var outp = q.ForwardKeeping(f, false, keep);
            // The value: f_hat summed over the kept scales, as the partial pyramids of inference.
            Assert.True(outp.FHat_BChw.allclose(partial[keep - 1], rtol: 1e-5, atol: 1e-5), $"value, {keep} scales kept");
            Assert.True(outp.VqLoss.item<float>() > 0);
            outp.FHat_BChw.mul(w).sum().backward();
            // The gradient: identity with every scale kept (VAR's straight-through), else through the low-pass at the
            // last kept scale.
            var g = f.detach().clone().requires_grad_(true);
            var through = keep == S ? g : VectorQuantizer2.LowPass(g, pn[keep - 1]);
            through.mul(w).sum().backward();
            Assert.True(f.grad!.allclose(g.grad!, rtol: 1e-5, atol: 1e-6), $"gradient, {keep} scales kept");
            if (keep < S) Assert.False(f.grad!.allclose(w, rtol: 1e-3, atol: 1e-3));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => q.ForwardKeeping(f, false, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => q.ForwardKeeping(f, false, S + 1));
    }
}
