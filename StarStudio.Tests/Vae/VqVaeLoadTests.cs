using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using static StarStudio.Tests.Vae.VaeTestConfigs;

namespace StarStudio.Tests.Vae;

public class VqVaeLoadTests
{
    static Dictionary<string, Tensor> Clone(VQVAE vae) =>
        vae.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    [Fact]
    public void LoadReferenceStateDict_CopiesEveryTensor()
    {
        manual_seed(31);
        using var source = new VQVAE(Tiny);
        using (no_grad()) source.Quantize.EmaVocabHitSV.fill_(3);
        manual_seed(32);
        using var target = new VQVAE(Tiny);
        var notes = target.LoadReferenceStateDict(Clone(source));
        Assert.Empty(notes);
        var a = source.state_dict();
        foreach (var (key, t) in target.state_dict()) Assert.Equal(Values(a[key]), Values(t));
        // The copy went into the live parameters: the module computes with the loaded weights.
        var x = randn(1, 4, 4, 4);
        Assert.Equal(Values(source.FhatToImg(x)), Values(target.FhatToImg(x)));
    }

    [Fact]
    public void LoadReferenceStateDict_KeepsOwnEmaForAnotherScaleCount()
    {
        // Like the official file (10 rows) loaded for a 14-scale schedule: the model keeps its own buffer, as the reference.
        using var src = new VQVAE(Tiny with { VPatchNums = [1, 2, 4] });
        using var dst = new VQVAE(Tiny with { VPatchNums = [1, 2, 3, 4] });
        var notes = dst.LoadReferenceStateDict(Clone(src));
        var note = Assert.Single(notes);
        Assert.Contains(VQVAE.EmaVocabHitKey, note);
        Assert.Equal([4L, 16], dst.Quantize.EmaVocabHitSV.shape);
    }

    [Fact]
    public void LoadReferenceStateDict_NamesEveryMissingUnexpectedAndMisshapedKey()
    {
        using var src = new VQVAE(Tiny);
        using var dst = new VQVAE(Tiny);
        var before = Values(dst.Quantize.Embedding.weight!);
        var sd = Clone(src);
        sd.Remove("decoder.conv_out.bias");
        sd["encoder.extra.weight"] = zeros(2);
        sd["quant_conv.weight"] = zeros(4, 4, 1, 1);
        sd["quantize.embedding.weight"] = ones(16, 4);

        var ex = Assert.Throws<InvalidDataException>(() => dst.LoadReferenceStateDict(sd));
        Assert.Contains("missing: decoder.conv_out.bias", ex.Message);
        Assert.Contains("unexpected: encoder.extra.weight", ex.Message);
        Assert.Contains("shape mismatch: quant_conv.weight file [4, 4, 1, 1] vs model [4, 4, 3, 3]", ex.Message);
        Assert.Contains("(3 problems)", ex.Message);
        // Nothing was copied.
        Assert.Equal(before, Values(dst.Quantize.Embedding.weight!));
    }

    [Fact]
    public void LoadReferenceStateDict_Official256FileInto1024ModelOnMeta()
    {
        using var file = new VQVAE(VqVaeConfig.Official, META);
        using var model = new VQVAE(VqVaeConfig.OfficialFor(1024), META);
        var notes = model.LoadReferenceStateDict(file.state_dict());
        Assert.Contains("[10, 4096]", Assert.Single(notes));
    }
}
