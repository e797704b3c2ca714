using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Vae;

/// <summary>The full-size module on the meta device: every state-dict name and shape as in VAR's vqvae.py.</summary>
public class VqVaeKeysAndShapesTests
{
    /// <summary>
    /// The reference's keys, rebuilt from the rules of basic_vae.py / quant.py / vqvae.py (not from our module):
    /// name -> shape, for the official ch 160, ch_mult (1,1,2,2,4), 2 res blocks, Cvae 32, V 4096, 4 shared Phis.
    /// </summary>
    static Dictionary<string, long[]> ReferenceOfficialKeys(int numScales)
    {
        const long ch = 160, z = 32, V = 4096;
        int[] mult = [1, 1, 2, 2, 4];
        var keys = new Dictionary<string, long[]>();
        void Conv(string n, long i, long o, long k) { keys[$"{n}.weight"] = [o, i, k, k]; keys[$"{n}.bias"] = [o]; }
        void Norm(string n, long c) { keys[$"{n}.weight"] = [c]; keys[$"{n}.bias"] = [c]; }
        void Res(string n, long i, long o)
        {
            Norm($"{n}.norm1", i); Conv($"{n}.conv1", i, o, 3); Norm($"{n}.norm2", o); Conv($"{n}.conv2", o, o, 3);
            if (i != o) Conv($"{n}.nin_shortcut", i, o, 1);
        }
        void Attn(string n, long c) { Norm($"{n}.norm", c); Conv($"{n}.qkv", c, 3 * c, 1); Conv($"{n}.proj_out", c, c, 1); }
        void Mid(string n, long c) { Res($"{n}.block_1", c, c); Attn($"{n}.attn_1", c); Res($"{n}.block_2", c, c); }

        Conv("encoder.conv_in", 3, ch, 3);
        long blockIn = ch;
        for (int i = 0; i < 5; i++)
        {
            blockIn = ch * (i == 0 ? 1 : mult[i - 1]);
            for (int j = 0; j < 2; j++)
            {
                Res($"encoder.down.{i}.block.{j}", blockIn, ch * mult[i]);
                blockIn = ch * mult[i];
                if (i == 4) Attn($"encoder.down.{i}.attn.{j}", blockIn);
            }
            if (i != 4) Conv($"encoder.down.{i}.downsample.conv", blockIn, blockIn, 3);
        }
        Mid("encoder.mid", blockIn);
        Norm("encoder.norm_out", blockIn);
        Conv("encoder.conv_out", blockIn, z, 3);

        Conv("decoder.conv_in", z, ch * 4, 3);
        Mid("decoder.mid", ch * 4);
        blockIn = ch * 4;
        for (int i = 4; i >= 0; i--)
        {
            for (int j = 0; j < 3; j++)
            {
                Res($"decoder.up.{i}.block.{j}", blockIn, ch * mult[i]);
                blockIn = ch * mult[i];
                if (i == 4) Attn($"decoder.up.{i}.attn.{j}", blockIn);
            }
            if (i != 0) Conv($"decoder.up.{i}.upsample.conv", blockIn, blockIn, 3);
        }
        Norm("decoder.norm_out", ch);
        Conv("decoder.conv_out", ch, 3, 3);

        for (int k = 0; k < 4; k++) Conv($"quantize.quant_resi.qresi_ls.{k}", z, z, 3);
        keys["quantize.ema_vocab_hit_SV"] = [numScales, V];
        keys["quantize.embedding.weight"] = [V, z];
        Conv("quant_conv", z, z, 3);
        Conv("post_quant_conv", z, z, 3);
        return keys;
    }

    static Dictionary<string, long[]> Shapes(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);

    [Fact]
    public void Official_StateDictKeysAndShapesEqualTheReference()
    {
        using var vae = new VQVAE(VqVaeConfig.Official, META);
        var actual = Shapes(vae);
        var expected = ReferenceOfficialKeys(10);

        var missing = expected.Keys.Except(actual.Keys).Order(StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Except(expected.Keys).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0 && unexpected.Count == 0,
            $"missing: {string.Join(", ", missing)}\nunexpected: {string.Join(", ", unexpected)}");
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in expected) Assert.True(shape.SequenceEqual(actual[key]), $"{key}: expected [{string.Join(",", shape)}], got [{string.Join(",", actual[key])}]");
        // Counted by hand: encoder 132 tensors, decoder 178, quantiser 10 (4 Phis x 2, embedding, EMA), 2 x 2 convs.
        Assert.Equal(324, actual.Count);
    }

    [Theory]
    [InlineData("encoder.conv_in.weight", new long[] { 160, 3, 3, 3 })]
    [InlineData("encoder.down.2.block.0.nin_shortcut.weight", new long[] { 320, 160, 1, 1 })]
    [InlineData("encoder.down.3.downsample.conv.weight", new long[] { 320, 320, 3, 3 })]
    [InlineData("encoder.down.4.attn.1.qkv.weight", new long[] { 1920, 640, 1, 1 })]
    [InlineData("encoder.mid.attn_1.proj_out.weight", new long[] { 640, 640, 1, 1 })]
    [InlineData("encoder.conv_out.weight", new long[] { 32, 640, 3, 3 })]
    [InlineData("decoder.conv_in.weight", new long[] { 640, 32, 3, 3 })]
    [InlineData("decoder.up.4.attn.2.norm.weight", new long[] { 640 })]
    [InlineData("decoder.up.3.block.0.nin_shortcut.weight", new long[] { 320, 640, 1, 1 })]
    [InlineData("decoder.up.1.block.0.nin_shortcut.weight", new long[] { 160, 320, 1, 1 })]
    [InlineData("decoder.up.1.upsample.conv.weight", new long[] { 160, 160, 3, 3 })]
    [InlineData("decoder.conv_out.weight", new long[] { 3, 160, 3, 3 })]
    [InlineData("quantize.embedding.weight", new long[] { 4096, 32 })]
    [InlineData("quantize.quant_resi.qresi_ls.0.weight", new long[] { 32, 32, 3, 3 })]
    [InlineData("quantize.quant_resi.qresi_ls.3.bias", new long[] { 32 })]
    [InlineData("quantize.ema_vocab_hit_SV", new long[] { 10, 4096 })]
    [InlineData("quant_conv.weight", new long[] { 32, 32, 3, 3 })]
    [InlineData("post_quant_conv.weight", new long[] { 32, 32, 3, 3 })]
    public void Official_KeyHasReferenceShape(string key, long[] shape)
    {
        using var vae = new VQVAE(VqVaeConfig.Official, META);
        var actual = Shapes(vae);
        Assert.True(actual.ContainsKey(key), $"missing {key}");
        Assert.Equal(shape, actual[key]);
    }

    [Fact]
    public void Official_HasNoNinShortcutWhereWidthsMatch()
    {
        using var vae = new VQVAE(VqVaeConfig.Official, META);
        var keys = Shapes(vae).Keys.Where(k => k.Contains("nin_shortcut.weight")).Order(StringComparer.Ordinal);
        // Width changes: encoder 160->320 (level 2), 320->640 (level 4); decoder 640->320 (level 3), 320->160 (level 1).
        Assert.Equal(
            ["decoder.up.1.block.0.nin_shortcut.weight", "decoder.up.3.block.0.nin_shortcut.weight",
             "encoder.down.2.block.0.nin_shortcut.weight", "encoder.down.4.block.0.nin_shortcut.weight"],
            keys);
    }

    [Fact]
    public void Official_ParameterCountIs108948355()
    {
        using var vae = new VQVAE(VqVaeConfig.Official, META);
        // Summed by hand from the layer list: encoder 44,107,872 + decoder 64,653,923 + quantiser 168,064
        // (embedding 131,072 + 4 Phis of 9,248) + quant_conv and post_quant_conv 2 x 9,248. The EMA buffer is no parameter.
        Assert.Equal(108_948_355L, vae.parameters().Sum(p => p.numel()));
        Assert.Equal(44_107_872L, vae.Encoder.parameters().Sum(p => p.numel()));
        Assert.Equal(64_653_923L, vae.Decoder.parameters().Sum(p => p.numel()));
        Assert.Equal(168_064L, vae.Quantize.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Official_IsInTestModeWithFrozenParameters()
    {
        using var vae = new VQVAE(VqVaeConfig.Official, META);
        Assert.False(vae.training);
        Assert.All(vae.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void Official1024_OnlyTheEmaBufferGrowsWithTheSchedule()
    {
        using var vae256 = new VQVAE(VqVaeConfig.Official, META);
        using var vae1024 = new VQVAE(VqVaeConfig.OfficialFor(1024), META);
        var a = Shapes(vae256);
        var b = Shapes(vae1024);
        Assert.Equal(a.Keys.Order(StringComparer.Ordinal), b.Keys.Order(StringComparer.Ordinal));
        var differing = a.Keys.Where(k => !a[k].SequenceEqual(b[k])).ToList();
        Assert.Equal([VQVAE.EmaVocabHitKey], differing);
        Assert.Equal([14L, 4096L], b[VQVAE.EmaVocabHitKey]);
    }

    [Theory]
    [InlineData(0, 0.5, "quantize.quant_resi.0.weight", 10)]   // non-shared: one Phi per scale, directly under quant_resi
    [InlineData(1, 0.5, "quantize.quant_resi.qresi.weight", 1)] // fully shared
    [InlineData(3, 0.5, "quantize.quant_resi.qresi_ls.2.weight", 3)]
    [InlineData(4, 0.0, null, 0)]                               // quant_resi 0: identity Phis, no parameters
    public void QuantResiSharing_NamesPhisLikeTheReference(int share, double quantResi, string? sampleKey, int phiWeights)
    {
        using var vae = new VQVAE(VqVaeConfig.Official with { ShareQuantResi = share, QuantResi = quantResi }, META);
        var phiKeys = Shapes(vae).Keys.Where(k => k.StartsWith("quantize.quant_resi.") && k.EndsWith(".weight")).ToList();
        Assert.Equal(phiWeights, phiKeys.Count);
        if (sampleKey is not null) Assert.Contains(sampleKey, phiKeys);
        Assert.All(phiKeys, k => Assert.Equal([32L, 32L, 3L, 3L], Shapes(vae)[k]));
    }

    [Fact]
    public void Config_OfficialDerivedValues()
    {
        var c = VqVaeConfig.Official;
        Assert.Equal(16, c.DownsampleFactor);
        Assert.Equal(16, c.LatentSide);
        Assert.Equal(256, c.ImageSide);
        Assert.Equal(680, c.TotalTokens);          // 1+4+9+16+25+36+64+100+169+256
        Assert.Equal(512, VqVaeConfig.OfficialFor(512).ImageSide);
        Assert.Equal(2240, VqVaeConfig.OfficialFor(512).TotalTokens);
        Assert.Equal(1024, VqVaeConfig.OfficialFor(1024).ImageSide);
        Assert.Equal(9451, VqVaeConfig.OfficialFor(1024).TotalTokens);
        Assert.Equal(4, (c with { Ch = 32, ChMult = [1, 2, 2] }).DownsampleFactor);
        Assert.Equal(8, (c with { Ch = 32, ChMult = [1, 1, 2, 2] }).DownsampleFactor);
        Assert.Equal(c, VqVaeConfig.Official with { ChMult = [1, 1, 2, 2, 4] });   // value equality over the lists
    }

    [Fact]
    public void Config_RejectsChannelsNotDivisibleByGroups()
    {
        var small = VqVaeConfig.Official with { Ch = 16, ChMult = [1, 2] };
        var ex = Assert.Throws<ArgumentException>(small.Validate);
        Assert.Contains("NormGroups=32", ex.Message);
        (small with { NormGroups = 8 }).Validate();
        Assert.Throws<ArgumentException>(() => new VQVAE(small, META));
    }
}
