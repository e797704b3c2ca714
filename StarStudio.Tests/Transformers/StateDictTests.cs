using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

/// <summary>
/// Full-size official presets built on the meta device (no memory): every state-dict key and shape must equal the
/// reference's. The expected tables are written from var_drop.py / var.py / basic_var.py rule by rule.
/// </summary>
public class StateDictTests
{
    static readonly Device Meta = new(DeviceType.META);

    static Dictionary<string, long[]> Actual(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);

    static void AssertSameKeysAndShapes(Dictionary<string, long[]> expected, Dictionary<string, long[]> actual)
    {
        var missing = expected.Keys.Except(actual.Keys).Order().ToList();
        var unexpected = actual.Keys.Except(expected.Keys).Order().ToList();
        Assert.True(missing.Count == 0 && unexpected.Count == 0,
            $"missing: {string.Join(", ", missing.Take(10))}; unexpected: {string.Join(", ", unexpected.Take(10))}");
        var misShaped = expected.Where(kv => !kv.Value.SequenceEqual(actual[kv.Key]))
            .Select(kv => $"{kv.Key}: expected [{string.Join(",", kv.Value)}], got [{string.Join(",", actual[kv.Key])}]").ToList();
        Assert.True(misShaped.Count == 0, string.Join("; ", misShaped.Take(10)));
    }

    /// <summary>basic_var.Attention: scale_mul_1H11 (attn_l2_norm), q_bias, v_bias, buffer zero_k_bias, proj; self: mat_qkv; cross: mat_q, mat_kv.</summary>
    static void AddAttention(Dictionary<string, long[]> d, string p, long C, long H, long? crossDim)
    {
        d[$"{p}.scale_mul_1H11"] = [1, H, 1, 1];
        d[$"{p}.q_bias"] = [C];
        d[$"{p}.v_bias"] = [C];
        d[$"{p}.zero_k_bias"] = [C];
        d[$"{p}.proj.weight"] = [C, C];
        d[$"{p}.proj.bias"] = [C];
        if (crossDim is long D)
        {
            d[$"{p}.mat_q.weight"] = [C, C];
            d[$"{p}.mat_kv.weight"] = [2 * C, D];
        }
        else d[$"{p}.mat_qkv.weight"] = [3 * C, C];
    }

    static void AddFfn(Dictionary<string, long[]> d, string p, long C)
    {
        d[$"{p}.fc1.weight"] = [4 * C, C];
        d[$"{p}.fc1.bias"] = [4 * C];
        d[$"{p}.fc2.weight"] = [C, 4 * C];
        d[$"{p}.fc2.bias"] = [C];
    }

    /// <summary>var_drop.VAR with rope_emb, lvl_emb, cross-attention, no shared_aln (every released STAR model).</summary>
    static Dictionary<string, long[]> ExpectedStar(int depth, IReadOnlyList<int> pns, bool sampler)
    {
        long C = 64 * depth, H = depth, S = pns.Count, V = 4096, Cvae = 32, Ct = 1024;
        var d = new Dictionary<string, long[]>
        {
            ["word_embed.weight"] = [C, Cvae], ["word_embed.bias"] = [C],
            ["class_emb.weight"] = [1001, C],
            ["pos_start"] = [1, 1, C],
            ["lvl_embed.weight"] = [S, C],
            ["head_logits.weight"] = [V, C], ["head_logits.bias"] = [V],
            ["encoder_proj.weight"] = [C, Ct], ["encoder_proj.bias"] = [C],
        };
        for (int i = 0; i < depth; i++) // 7 self-attention + 8 cross-attention + 4 FFN names per block
        {
            AddAttention(d, $"blocks.{i}.attn", C, H, null);
            AddAttention(d, $"blocks.{i}.cross_attn", C, H, Ct);
            AddFfn(d, $"blocks.{i}.ffn", C);
        }
        if (sampler)
        {
            d["word_embed_head.weight"] = [C, Cvae]; d["word_embed_head.bias"] = [C];
            for (int i = 0; i < 3; i++) // enable_cross=False: attn + ffn only
            {
                AddAttention(d, $"feat_extract_blocks.{i}.attn", C, H, null);
                AddFfn(d, $"feat_extract_blocks.{i}.ffn", C);
            }
            d["pos_start_last"] = [1, 1, C];
            d["head_logits2.weight"] = [V, C]; d["head_logits2.bias"] = [V];
            d["encoder_proj2.weight"] = [C, Ct]; d["encoder_proj2.bias"] = [C];
            d["head_proj.weight"] = [C, 2 * C]; d["head_proj.bias"] = [C];
            d["lvl_embed_2.weight"] = [S, C];
        }
        return d;
    }

    /// <summary>var.VAR: AdaLNSelfAttn blocks (ada_lin, or ada_gss + shared_ada_lin), pos_1LC, buffers lvl_1L and attn_bias_for_masking.</summary>
    static Dictionary<string, long[]> ExpectedVar(int depth, IReadOnlyList<int> pns, bool sharedAln)
    {
        long C = 64 * depth, H = depth, S = pns.Count, V = 4096, Cvae = 32, L = pns.Sum(p => p * p);
        var d = new Dictionary<string, long[]>
        {
            ["word_embed.weight"] = [C, Cvae], ["word_embed.bias"] = [C],
            ["class_emb.weight"] = [1001, C],
            ["pos_start"] = [1, 1, C],
            ["pos_1LC"] = [1, L, C],
            ["lvl_embed.weight"] = [S, C],
            ["lvl_1L"] = [1, L],
            ["attn_bias_for_masking"] = [1, 1, L, L],
            ["head_nm.ada_lin.1.weight"] = [2 * C, C], ["head_nm.ada_lin.1.bias"] = [2 * C],
            ["head.weight"] = [V, C], ["head.bias"] = [V],
        };
        if (sharedAln) { d["shared_ada_lin.1.weight"] = [6 * C, C]; d["shared_ada_lin.1.bias"] = [6 * C]; }
        for (int i = 0; i < depth; i++) // 7 attention + 4 FFN + (2 ada_lin | 1 ada_gss) names per block
        {
            AddAttention(d, $"blocks.{i}.attn", C, H, null);
            AddFfn(d, $"blocks.{i}.ffn", C);
            if (sharedAln) d[$"blocks.{i}.ada_gss"] = [1, 1, 6, C];
            else { d[$"blocks.{i}.ada_lin.1.weight"] = [6 * C, C]; d[$"blocks.{i}.ada_lin.1.bias"] = [6 * C]; }
        }
        return d;
    }

    static readonly string[] Buffers = ["zero_k_bias", "lvl_1L", "attn_bias_for_masking"];

    /// <summary>Learnable parameters of an expected table: every entry except the buffers.</summary>
    static long CountParameters(Dictionary<string, long[]> expected) =>
        expected.Where(kv => !Buffers.Any(b => kv.Key.EndsWith(b))).Sum(kv => kv.Value.Aggregate(1L, (a, b) => a * b));

    public static TheoryData<int, int, bool> StarPresets()
    {
        var data = new TheoryData<int, int, bool>();
        foreach (int depth in new[] { 16, 30 })
            foreach (int resolution in new[] { 256, 512, 1024 })
                foreach (bool sampler in new[] { false, true })
                    data.Add(depth, resolution, sampler);
        return data;
    }

    [Theory]
    [MemberData(nameof(StarPresets))]
    public void StarPreset_StateDictMatchesReferenceKeysAndShapes(int depth, int resolution, bool sampler)
    {
        using var model = new StarTransformer(StarConfig.Official(depth, resolution, sampler), Meta);
        var expected = ExpectedStar(depth, PatchSchedules.ForResolution(resolution), sampler);
        var actual = Actual(model);
        AssertSameKeysAndShapes(expected, actual);
        Assert.Equal(depth * 19 + 9 + (sampler ? 3 * 11 + 10 : 0), actual.Count);
        Assert.Equal([3L * 64 * depth, 64 * depth], actual["blocks.0.attn.mat_qkv.weight"]);
        Assert.Equal([4096L, 64 * depth], actual["head_logits.weight"]);
        Assert.Equal(CountParameters(expected), model.parameters().Sum(p => p.numel()));
    }

    [Theory]
    [InlineData(16, 310e6)]
    [InlineData(20, 600e6)]
    [InlineData(24, 1.0e9)]
    [InlineData(30, 2.0e9)]
    [InlineData(36, 2.3e9)]
    public void VarPreset_StateDictMatchesReferenceKeysAndParameterCount(int depth, double readmeParams)
    {
        var cfg = VarConfig.Official(depth);
        using var model = new VarTransformer(cfg, Meta);
        var expected = ExpectedVar(depth, cfg.PatchNums, cfg.SharedAln);
        AssertSameKeysAndShapes(expected, Actual(model));
        long count = model.parameters().Sum(p => p.numel());
        Assert.Equal(CountParameters(expected), count);
        // The README's model-zoo sizes count the transformer alone (the VQ-VAE excluded), truncated to 2 significant
        // digits (d24 has 1.03 B, d36-s 2.35 B).
        double digits = readmeParams >= 1e9 ? 1e8 : 1e7;
        Assert.Equal(readmeParams, Math.Floor(count / digits) * digits);
    }

    [Fact]
    public void VarD16_SpotShapesAndExactCount()
    {
        using var model = new VarTransformer(VarConfig.D16, Meta);
        var sd = Actual(model);
        Assert.Equal([1001L, 1024], sd["class_emb.weight"]);
        Assert.Equal([1L, 680, 1024], sd["pos_1LC"]);
        Assert.Equal([1L, 1, 680, 680], sd["attn_bias_for_masking"]);
        Assert.Equal(16 * 13 + 12, sd.Count);
        // 16 blocks x (18 C^2 + 14 C + H) + word_embed 33C + class_emb 1001C + pos_start C + pos_1LC 680C
        // + lvl_embed 10C + head_nm 2C^2 + 2C + head 4096C + 4096, with C = 1024, H = 16.
        long C = 1024;
        long perBlock = 18 * C * C + 14 * C + 16;
        long expected = 16 * perBlock + 33 * C + 1001 * C + C + 680 * C + 10 * C + 2 * C * C + 2 * C + 4096 * C + 4096;
        Assert.Equal(310_283_520L, expected);
        Assert.Equal(expected, model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Star_PlainAttributesStayOutOfTheStateDict()
    {
        using var model = new StarTransformer(TinyModels.Star(samplerHead: true));
        var keys = model.state_dict().Keys.ToList();
        Assert.DoesNotContain(keys, k => k.Contains("lvl_1L") || k.Contains("freqs") || k.Contains("rope") || k.Contains("attn_bias") || k.Contains("attn_mask"));
        Assert.Contains("blocks.0.attn.zero_k_bias", keys);
        Assert.Contains("blocks.1.cross_attn.zero_k_bias", keys);
        Assert.Contains("feat_extract_blocks.0.attn.zero_k_bias", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("feat_extract_blocks.0.cross_attn"));
    }

    [Fact]
    public void Star_ToDeviceMovesPlainAttributes()
    {
        using var model = new StarTransformer(TinyModels.Star());
        model.to(Meta);
        Assert.Equal(DeviceType.META, model.Lvl_1L.device_type);
        Assert.Equal(DeviceType.META, model.RopeTables.Cos!.device_type);
        Assert.All(model.state_dict().Values, t => Assert.Equal(DeviceType.META, t.device_type));
    }

    [Fact]
    public void Star_OptionalSectionsFollowTheConfig()
    {
        // Absolute positions replace RoPE when rope_emb is off; shared AdaLN adds lvl_embed_proj, lvl_embed_adaln and ada_gss;
        // the cross-attention ablation drops cross_attn.
        var cfg = TinyModels.Star() with { RotaryPosEmb = false, SharedAln = true, EnableCross = false };
        using var model = new StarTransformer(cfg);
        var sd = Actual(model);
        Assert.Equal([1L, 14, 64], sd["pos_1LC"]);
        Assert.Equal([64L, 128], sd["lvl_embed_proj.weight"]);
        Assert.Equal([384L, 64], sd["lvl_embed_adaln.1.weight"]);
        Assert.Equal([1L, 1, 6, 64], sd["blocks.0.ada_gss"]);
        Assert.DoesNotContain(sd.Keys, k => k.Contains("cross_attn"));
        Assert.Null(model.RopeTables.Cos);
    }

    [Fact]
    public void Star_AbsolutePosEmbAddsPos1LCNextToRope_SoAFlatMapsTokensDiffer()
    {
        // StarStudio's option (off in released models): a learned position per token as well as RoPE.
        var cfg = TinyModels.Star() with { AbsolutePosEmb = true };
        using var model = new StarTransformer(cfg);
        Assert.Equal([1L, cfg.TotalTokens, cfg.Width], Actual(model)["pos_1LC"]);
        Assert.NotNull(model.RopeTables.Cos);
        using var plain = new StarTransformer(TinyModels.Star());
        Assert.DoesNotContain("pos_1LC", Actual(plain).Keys);
        // model.json keeps it (older manifests lack the key and read as off).
        string json = TinyModels.ManifestJson(cfg);
        Assert.Contains("\"absolute_pos_emb\": true", json);
        Assert.True(TinyModels.FromManifestJson(json).AbsolutePosEmb);
        Assert.False(TinyModels.FromManifestJson("{}").AbsolutePosEmb);

        // The same latent at every position of scale 1: only the absolute positions tell its tokens apart.
        int si = 1, l = cfg.PatchNums[si] * cfg.PatchNums[si];
        using var flat = ones(1, l, cfg.Cvae);
        using var withPos = model.ScaleInput(flat, si);
        using var without = plain.ScaleInput(flat, si);
        Assert.True(withPos[0, 0].allclose(withPos[0, 1]) is false, "positions must differ with absolute_pos_emb");
        Assert.True(without[0, 0].allclose(without[0, 1]), "without it a flat map's tokens are one input");
    }

    [Fact]
    public void Star_AttnScaleInitSetsEveryAttentionsStartingTemperature_AndTheReferencesIsFour()
    {
        // StarStudio's option for training from scratch: exp(scale_mul_1H11) starts at AttnScaleInit (reference: 4).
        var cfg = TinyModels.Star(samplerHead: true) with { AttnScaleInit = 24 };
        using var sharp = new StarTransformer(cfg);
        using var reference = new StarTransformer(TinyModels.Star(samplerHead: true));
        var sharpScales = sharp.state_dict().Where(kv => kv.Key.EndsWith("scale_mul_1H11")).ToList();
        var referenceScales = reference.state_dict().Where(kv => kv.Key.EndsWith("scale_mul_1H11")).ToList();
        // self- and cross-attention of every block, and the sampler head's self-attention
        Assert.Equal(2 * cfg.Depth + cfg.SamplerDepth, sharpScales.Count);
        Assert.Contains(sharpScales, kv => kv.Key.Contains("cross_attn"));
        Assert.Contains(sharpScales, kv => kv.Key.StartsWith("feat_extract_blocks"));
        foreach (var (_, t) in sharpScales) Assert.All(t.exp().data<float>().ToArray(), v => Assert.Equal(24f, v, 3));
        foreach (var (_, t) in referenceScales) Assert.All(t.exp().data<float>().ToArray(), v => Assert.Equal(4f, v, 4));

        // model.json keeps it (older manifests lack the key and read as the reference's 4).
        string json = TinyModels.ManifestJson(cfg);
        Assert.Contains("\"attn_scale_init\": 24", json);
        Assert.Equal(4.0, TinyModels.FromManifestJson("{}").AttnScaleInit);
    }
}
