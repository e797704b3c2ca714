using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using static StarStudio.Tests.Vae.VaeTestConfigs;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Tests.Vae;

public class BasicVaeTests
{
    /// <summary>A 3x3 kernel that copies each channel's tap (r, c) to the output: out[o] = x[o] at that offset.</summary>
    static void SetTapCopy(nn.Module conv, long channels, int r, int c)
    {
        var sd = conv.state_dict();
        using var _ = no_grad();
        sd["conv.weight"].zero_();
        for (long o = 0; o < channels; o++) sd["conv.weight"][o, o, r, c] = tensor(1f);
        sd["conv.bias"].zero_();
    }

    [Fact]
    public void Downsample2x_PadsOnlyBottomAndRight()
    {
        using var down = new Downsample2x(1);
        var x = arange(1, 17, ScalarType.Float32).view(1, 1, 4, 4);   // rows 1..4, 5..8, 9..12, 13..16

        SetTapCopy(down, 1, 0, 0);   // out[i,j] = xpad[2i, 2j] = x[2i, 2j]
        using (var y = down.call(x)) Assert.Equal([1f, 3f, 9f, 11f], Values(y));

        SetTapCopy(down, 1, 2, 2);   // out[i,j] = xpad[2i+2, 2j+2]: row/column 4 is the zero padding
        using (var y = down.call(x)) Assert.Equal([11f, 0f, 0f, 0f], Values(y));
    }

    [Fact]
    public void Upsample2x_IsNearestThenConv()
    {
        using var up = new Upsample2x(2);
        SetTapCopy(up, 2, 1, 1);     // centre tap: the conv passes the upsampled map through
        var x = arange(8, ScalarType.Float32).view(1, 2, 2, 2);
        using var y = up.call(x);
        var nearest = x.repeat_interleave(2, dim: 2).repeat_interleave(2, dim: 3);
        Assert.Equal([1L, 2, 4, 4], y.shape);
        Assert.Equal(Values(nearest), Values(y));
    }

    [Fact]
    public void Normalize_StartsAsIdentityAffine()
    {
        // TorchSharp's GroupNorm leaves weight/bias uninitialised; PyTorch starts at ones/zeros.
        using var block = new ResnetBlock(8, 16, 0, 4);
        var sd = block.state_dict();
        foreach (var key in new[] { "norm1", "norm2" })
        {
            Assert.All(Values(sd[$"{key}.weight"]), v => Assert.Equal(1f, v));
            Assert.All(Values(sd[$"{key}.bias"]), v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void ResnetBlock_MatchesTheReferenceFormula()
    {
        manual_seed(21);
        using var block = new ResnetBlock(8, 16, 0, 4);
        var sd = block.state_dict();
        using (no_grad()) { sd["norm1.weight"].uniform_(0.5, 1.5); sd["norm2.bias"].uniform_(-0.5, 0.5); }
        var x = randn(2, 8, 5, 5);
        using var y = block.call(x);
        var h = F.conv2d(F.silu(F.group_norm(x, 4, sd["norm1.weight"], sd["norm1.bias"], 1e-6)), sd["conv1.weight"], sd["conv1.bias"], padding: [1, 1]);
        h = F.conv2d(F.silu(F.group_norm(h, 4, sd["norm2.weight"], sd["norm2.bias"], 1e-6)), sd["conv2.weight"], sd["conv2.bias"], padding: [1, 1]);
        var expected = F.conv2d(x, sd["nin_shortcut.weight"], sd["nin_shortcut.bias"]) + h;
        AssertClose(expected, y, 1e-5, "ResnetBlock");
    }

    [Fact]
    public void ResnetBlock_WithoutNormalisationKeepsItsInputAndHasNoNormWeights()
    {
        // NormGroups 0 (StarStudio's option for flat pictures): SiLU runs in place on what Normalize returns, so the
        // input must survive for the shortcut, and a flat picture's colour must come through (GroupNorm would zero it).
        manual_seed(22);
        using var block = new ResnetBlock(8, 8, 0, 0);
        var sd = block.state_dict();
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("norm", StringComparison.Ordinal));
        var x = randn(2, 8, 5, 5);
        var before = x.clone();
        using var y = block.call(x);
        Assert.Equal(Values(before), Values(x));
        var h = F.conv2d(F.silu(x), sd["conv1.weight"], sd["conv1.bias"], padding: [1, 1]);
        h = F.conv2d(F.silu(h), sd["conv2.weight"], sd["conv2.bias"], padding: [1, 1]);
        AssertClose(x + h, y, 1e-5, "ResnetBlock without normalisation");
    }

    [Fact]
    public void AttnBlock_MatchesTheReferenceBmmFormula()
    {
        manual_seed(22);
        using var attn = new AttnBlock(8, 4);
        var sd = attn.state_dict();
        var x = randn(2, 8, 3, 5);
        using var y = attn.call(x);

        // The reference: q^T k * C^-0.5, softmax over keys, h[c, j] = sum_i v[c, i] w[j, i].
        var qkv = F.conv2d(F.group_norm(x, 4, sd["norm.weight"], sd["norm.bias"], 1e-6), sd["qkv.weight"], sd["qkv.bias"]);
        var parts = qkv.reshape(2, 3, 8, 15).unbind(1);
        var w = bmm(parts[0].permute(0, 2, 1), parts[1]).mul(Math.Pow(8, -0.5)).softmax(2);
        var h = bmm(parts[2], w.permute(0, 2, 1)).view(2, 8, 3, 5);
        var expected = x + F.conv2d(h, sd["proj_out.weight"], sd["proj_out.bias"]);
        AssertClose(expected, y, 1e-5, "AttnBlock");
    }

    [Fact]
    public void EncoderDecoder_TinyShapes()
    {
        manual_seed(23);
        var config = Tiny with { ChMult = [1, 2, 2] };   // 4x downsampling
        using var enc = new Encoder(config);
        using var dec = new Decoder(config);
        using var z = enc.call(RandomImages(2, 16, seed: 24));
        Assert.Equal([2L, 4, 4, 4], z.shape);
        using var img = dec.call(z);
        Assert.Equal([2L, 3, 16, 16], img.shape);
    }
}
