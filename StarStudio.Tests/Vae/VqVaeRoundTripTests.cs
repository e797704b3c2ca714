using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using static StarStudio.Tests.Vae.VaeTestConfigs;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Tests.Vae;

/// <summary>Tokenise, detokenise and generate-style replay on a tiny random VAE: all paths must agree.</summary>
public class VqVaeRoundTripTests
{
    static VQVAE TinyVae(long seed)
    {
        manual_seed(seed);
        return new VQVAE(Tiny);
    }

    [Fact]
    public void ImgToIdxBl_ThenIdxBlToImg_EqualsDecodingTheAccumulatedFhat()
    {
        using var vae = TinyVae(1);
        var img = RandomImages(2, 8, seed: 2);
        var idx = vae.ImgToIdxBl(img);
        Assert.Equal([[2L, 1], [2L, 4], [2L, 9], [2L, 16]], idx.Select(t => t.shape));
        Assert.All(idx, t => Assert.InRange(t.min().item<long>(), 0, 15));
        Assert.All(idx, t => Assert.InRange(t.max().item<long>(), 0, 15));

        IReadOnlyList<Tensor> fHats;
        using (var f = vae.Features(img)) fHats = vae.Quantize.FToIdxBlOrFhat(f, toFhat: true);
        var images = vae.IdxBlToImg(idx, sameShape: true);
        Assert.Equal(4, images.Count);
        for (int si = 0; si < 4; si++)
        {
            using var direct = vae.FhatToImg(fHats[si]);
            Assert.Equal([2L, 3, 8, 8], images[si].shape);
            AssertClose(direct, images[si], 1e-5, $"scale {si}");
        }
        var last = vae.IdxBlToImg(idx, sameShape: true, lastOne: true);
        AssertClose(images[^1], Assert.Single(last), 1e-6, "lastOne");
        var rec = vae.ImgToReconstructedImg(img, lastOne: true);
        AssertClose(images[^1], Assert.Single(rec), 1e-5, "ImgToReconstructedImg");
        // The partial reconstructions must differ (every scale adds something), or the comparison above proves little.
        Assert.True((images[0] - images[^1]).abs().max().item<float>() > 1e-3);
    }

    [Fact]
    public void GenerationReplay_ReproducesFhatAndTeacherForcingInput()
    {
        using var vae = TinyVae(3);
        var q = vae.Quantize;
        var img = RandomImages(2, 8, seed: 4);
        var idx = vae.ImgToIdxBl(img);
        IReadOnlyList<Tensor> fHats;
        using (var f = vae.Features(img)) fHats = q.FToIdxBlOrFhat(f, toFhat: true);
        using var x_BLC = q.IdxBlToVarInput(idx)!;
        Assert.Equal([2L, 4 + 9 + 16, 4], x_BLC.shape);

        int[] pns = [1, 2, 3, 4];
        int SN = pns.Length;
        var f_hat = zeros(2, 4, 4, 4);
        long offset = 0;
        for (int si = 0; si < SN; si++)
        {
            // What the sampler does: tokens -> codebook map -> next scale's input.
            using var h_BChw = q.IdxToEmbedMap(idx[si]);
            var (fOut, next) = q.GetNextAutoregressiveInput(si, SN, f_hat, h_BChw);
            AssertClose(fHats[si], fOut, 1e-5, $"f_hat after scale {si}");
            if (si == SN - 1) break;
            int pn = pns[si + 1];
            AssertClose(F.interpolate(f_hat, [pn, pn], mode: InterpolationMode.Area), next, 1e-6, $"next map {si}");
            var teacher = x_BLC.narrow(1, offset, pn * pn).transpose(1, 2).reshape(2, 4, pn, pn);
            AssertClose(teacher, next, 1e-5, $"teacher-forcing input of scale {si + 1}");
            offset += pn * pn;
            next.Dispose();
        }
    }

    [Fact]
    public void EmbedToFhat_GrowingShapesEndAtTheSameSize()
    {
        using var vae = TinyVae(5);
        var idx = vae.ImgToIdxBl(RandomImages(1, 8, seed: 6));
        var maps = idx.Select(vae.Quantize.IdxToEmbedMap).ToList();
        var grown = vae.Quantize.EmbedToFhat(maps, allToMaxScale: false);
        Assert.Equal([[1L, 4, 1, 1], [1L, 4, 2, 2], [1L, 4, 3, 3], [1L, 4, 4, 4]], grown.Select(t => t.shape));
        var images = vae.EmbedToImg(maps, allToMaxScale: false);
        Assert.Equal([[1L, 3, 2, 2], [1L, 3, 4, 4], [1L, 3, 6, 6], [1L, 3, 8, 8]], images.Select(t => t.shape));
    }

    [Fact]
    public void FhatToImg_IsClampedToUnitRange()
    {
        using var vae = TinyVae(7);
        using var img = vae.FhatToImg(randn(1, 4, 4, 4).mul_(100));
        Assert.InRange(img.min().item<float>(), -1f, 1f);
        Assert.InRange(img.max().item<float>(), -1f, 1f);
        Assert.True(img.abs().max().item<float>() == 1f, "large latents should saturate somewhere");
    }

    [Fact]
    public void FhatToPreviewImg_DecodesTheAreaDownsampledFhat()
    {
        using var vae = TinyVae(8);
        var f_hat = randn(1, 4, 4, 4);
        using var preview = vae.FhatToPreviewImg(f_hat, 2);
        Assert.Equal([1L, 3, 4, 4], preview.shape);
        using var direct = vae.FhatToImg(F.interpolate(f_hat, [2, 2], mode: InterpolationMode.Area));
        AssertClose(direct, preview, 1e-6, "preview");
        using var full = vae.FhatToPreviewImg(f_hat, 4);
        AssertClose(vae.FhatToImg(f_hat), full, 1e-6, "full-size preview");
    }

    [Fact]
    public void Replay_LeavesNoLiveTensorsBehind()
    {
        using var vae = TinyVae(9);
        var idx = vae.ImgToIdxBl(RandomImages(1, 8, seed: 10));
        var q = vae.Quantize;
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var f_hat = zeros(1, 4, 4, 4);
        for (int si = 0; si < 4; si++)
        {
            using var scope = NewDisposeScope();
            var h = q.IdxToEmbedMap(idx[si]);
            var (_, next) = q.GetNextAutoregressiveInput(si, 4, f_hat, h);
            using var preview = vae.FhatToPreviewImg(f_hat, (int)next.shape[2]);
        }
        using (var img = vae.FhatToImg(f_hat)) Assert.Equal([1L, 3, 8, 8], img.shape);
        f_hat.Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void TrainingForward_ReconstructsAndBackpropagatesToEncoderDecoderAndCodebook()
    {
        manual_seed(12);
        using var vae = new VQVAE(Tiny with { TestMode = false });
        vae.train();
        var img = RandomImages(2, 8, seed: 13);
        var output = vae.call(img, true);
        Assert.Equal(img.shape, output.Rec_B3HW.shape);
        Assert.Equal(4, output.Usages!.Count);
        (output.Rec_B3HW.square().mean() + output.VqLoss).backward();
        var grads = vae.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        foreach (var key in new[] { "encoder.conv_in.weight", "decoder.conv_out.weight", "quant_conv.weight", "quantize.embedding.weight", "quantize.quant_resi.qresi_ls.0.weight" })
        {
            Assert.True(grads[key] is not null, $"{key} has no gradient");
            Assert.True(grads[key]!.abs().sum().item<float>() > 0, $"{key} has a zero gradient");
        }
    }

    [Fact]
    public void Features_RejectsImagesNotMultipleOfDownsample()
    {
        using var vae = TinyVae(14);
        Assert.Throws<ArgumentException>(() => vae.Features(zeros(1, 3, 9, 8)));
        Assert.Throws<ArgumentException>(() => vae.Features(zeros(1, 1, 8, 8)));
    }
}
