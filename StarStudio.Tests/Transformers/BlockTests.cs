using StarStudio.Model.Transformers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Tests.Transformers;

/// <summary>Blocks against explicit, written-out formulas (a second code path without scaled_dot_product_attention).</summary>
public class BlockTests
{
    static Tensor P(nn.Module m, string name) => m.state_dict()[name];

    /// <summary>softmax(q k^T + bias) v over [B,H,L,c] with explicit matmuls.</summary>
    static Tensor ExplicitAttention(Tensor q, Tensor k, Tensor v, Tensor? bias)
    {
        var s = q.matmul(k.transpose(-2, -1));
        if (bias is not null) s = s + bias;
        return s.softmax(-1).matmul(v);
    }

    [Fact]
    public void SelfAttention_MatchesExplicitL2NormRopeAttention()
    {
        const int C = 16, H = 2, c = 8, B = 2, L = 4;
        using var attn = TinyModels.Randomize(new Attention(C, H, attnL2Norm: true), seed: 30);
        using var noGrad = no_grad();
        // Head 1's learned scale lies above log(100): the reference clamps it there.
        P(attn, "scale_mul_1H11").copy_(tensor(new float[] { 1.2f, 6.0f }, [1, 2, 1, 1]));
        using var gen = new Generator(31);
        using var x = randn([B, L, C], generator: gen);
        using var rope = Rope2D.Build([2], c, 10000, 64);
        using var bias = tensor(new float[] { 0, float.NegativeInfinity, 0, 0, 0, 0, float.NegativeInfinity, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, [1, 1, L, L]);

        using var got = attn.ForwardSelf(x, bias, rope.Cos_Lc, rope.Sin_Lc);

        using var scope = NewDisposeScope();
        var qkv = x.matmul(P(attn, "mat_qkv.weight").t()) + cat([P(attn, "q_bias"), zeros(C), P(attn, "v_bias")]);
        Tensor Heads(Tensor t) => t.view(B, L, H, c).transpose(1, 2);
        var q = Rope2D.Apply(Heads(qkv.narrow(-1, 0, C)), rope.Cos_Lc, rope.Sin_Lc);
        var k = Rope2D.Apply(Heads(qkv.narrow(-1, C, C)), rope.Cos_Lc, rope.Sin_Lc);
        var v = Heads(qkv.narrow(-1, 2 * C, C));
        var scale = tensor(new float[] { MathF.Exp(1.2f), 100f }).view(1, H, 1, 1);
        q = q / q.norm(-1, keepdim: true) * scale;
        k = k / k.norm(-1, keepdim: true);
        var o = ExplicitAttention(q, k, v, bias).transpose(1, 2).reshape(B, L, C);
        var expected = o.matmul(P(attn, "proj.weight").t()) + P(attn, "proj.bias");
        Assert.True(TinyModels.MaxAbsDiff(got, expected) < 1e-4, $"diff {TinyModels.MaxAbsDiff(got, expected)}");
    }

    [Fact]
    public void CrossAttention_WithoutL2NormUsesQuarterOverSqrtHeadDimScale()
    {
        const int C = 16, H = 2, c = 8, B = 2, L = 3, T = 5, D = 6;
        using var attn = TinyModels.Randomize(new Attention(C, H, attnL2Norm: false, isCross: true, inDimCross: D), seed: 32);
        using var noGrad = no_grad();
        using var gen = new Generator(33);
        using var x = randn([B, L, C], generator: gen);
        using var enc = randn([B, T, D], generator: gen);
        using var mask = StarTransformer.TextMaskBias(tensor(new[] { true, true, true, true, true, true, true, false, false, false }, [B, T]));

        using var got = attn.ForwardCross(x, enc, mask);

        using var scope = NewDisposeScope();
        Tensor Heads(Tensor t, long n) => t.view(B, n, H, c).transpose(1, 2);
        var q = Heads(x.matmul(P(attn, "mat_q.weight").t()) + P(attn, "q_bias"), L) * (0.25 / Math.Sqrt(c));
        var kv = enc.matmul(P(attn, "mat_kv.weight").t()) + cat([zeros(C), P(attn, "v_bias")]);
        var o = ExplicitAttention(q, Heads(kv.narrow(-1, 0, C), T), Heads(kv.narrow(-1, C, C), T), mask).transpose(1, 2).reshape(B, L, C);
        var expected = o.matmul(P(attn, "proj.weight").t()) + P(attn, "proj.bias");
        Assert.True(TinyModels.MaxAbsDiff(got, expected) < 1e-5, $"diff {TinyModels.MaxAbsDiff(got, expected)}");
    }

    [Fact]
    public void TextMaskBias_IsZeroForKeptTokensAndMinusInfinityForPadding()
    {
        using var floatMask = tensor(new float[] { 1, 0, 1 }, [1, 3]);
        using var bias = StarTransformer.TextMaskBias(floatMask);
        Assert.Equal([1L, 1, 1, 3], bias.shape);
        Assert.Equal([0f, float.NegativeInfinity, 0f], bias.data<float>().ToArray());
    }

    [Fact]
    public void AdaLNSelfAttn_AppliesModulationsInReferenceOrder()
    {
        // ada_lin(cond).view(-1, 1, 6, C) is (gamma1, gamma2, scale1, scale2, shift1, shift2).
        const int C = 16, B = 2, L = 3;
        using var blk = TinyModels.Randomize(new AdaLNSelfAttn(C, C, 2, 4 * C, 1e-6, attnL2Norm: true, sharedAln: false), seed: 34);
        using var noGrad = no_grad();
        using var gen = new Generator(35);
        using var x = randn([B, L, C], generator: gen);
        using var cond = randn([B, C], generator: gen);

        using var got = blk.Forward(x, cond, null);

        using var scope = NewDisposeScope();
        var mods = (functional.silu(cond).matmul(P(blk, "ada_lin.1.weight").t()) + P(blk, "ada_lin.1.bias")).view(B, 1, 6, C);
        Tensor M(int i) => mods.select(2, i);
        Tensor Ln(Tensor t) => functional.layer_norm(t, [C], eps: 1e-6);
        var x1 = x + blk.Attn.ForwardSelf(Ln(x) * (M(2) + 1) + M(4)) * M(0);
        var expected = x1 + blk.Ffn.forward(Ln(x1) * (M(3) + 1) + M(5)) * M(1);
        Assert.True(TinyModels.MaxAbsDiff(got, expected) < 1e-5, $"diff {TinyModels.MaxAbsDiff(got, expected)}");
    }

    [Fact]
    public void AdaLNBeforeHead_ScalesThenShifts()
    {
        const int C = 8, D = 5;
        using var head = TinyModels.Randomize(new AdaLNBeforeHead(C, D, 1e-6), seed: 36);
        using var noGrad = no_grad();
        using var gen = new Generator(37);
        using var x = randn([2, 3, C], generator: gen);
        using var cond = randn([2, D], generator: gen);
        using var got = head.forward(x, cond);
        using var scope = NewDisposeScope();
        var ss = (functional.silu(cond).matmul(P(head, "ada_lin.1.weight").t()) + P(head, "ada_lin.1.bias")).view(2, 1, 2, C);
        var expected = functional.layer_norm(x, [C], eps: 1e-6) * (ss.select(2, 0) + 1) + ss.select(2, 1);
        Assert.True(TinyModels.MaxAbsDiff(got, expected) < 1e-5);
    }

    [Fact]
    public void FFN_UsesTanhApproximateGelu()
    {
        using var ffn = TinyModels.Randomize(new FFN(4, 8), seed: 38);
        using var noGrad = no_grad();
        using var x = tensor(new float[] { -2, -0.5f, 0.7f, 3 }, [1, 4]);
        using var got = ffn.forward(x);
        using var scope = NewDisposeScope();
        var h = x.matmul(P(ffn, "fc1.weight").t()) + P(ffn, "fc1.bias");
        var gelu = 0.5 * h * (1 + (Math.Sqrt(2 / Math.PI) * (h + 0.044715 * h.pow(3))).tanh());
        var expected = gelu.matmul(P(ffn, "fc2.weight").t()) + P(ffn, "fc2.bias");
        Assert.True(TinyModels.MaxAbsDiff(got, expected) < 1e-5);
    }
}
