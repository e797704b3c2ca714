// Follows STAR-T2I models/basic_var.py `AttnBlock` (cross_attn_ln=True, the default every STAR model is built with).
// Shapes: B batch (or N rows), L tokens, C width, T text tokens.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Model.Transformers;

/// <summary>
/// STAR block: x += attn(LN(x) [AdaLN]) [* gamma1]; x += cross_attn(LN(x), text); x += ffn(LN(x) [AdaLN]) [* gamma2].
/// LN has no affine. The AdaLN modulations exist only with shared_aln (ada_gss + the shared per-level condition).
/// </summary>
public sealed class AttnBlock : nn.Module
{
    readonly int _width;
    readonly bool _crossBatchQuirk;

    [ComponentName(Name = "attn")] readonly Attention _attn;
    [ComponentName(Name = "cross_attn")] readonly Attention? _crossAttn;
    [ComponentName(Name = "ffn")] readonly FFN _ffn;
    [ComponentName(Name = "ln_wo_grad")] readonly LayerNorm _lnWoGrad;
    [ComponentName(Name = "ada_gss")] Parameter? _adaGss;

    public AttnBlock(int embedDim, int numHeads, int mlpHidden, double normEps, bool attnL2Norm, bool enableCross,
        int inDimCross, bool sharedAln, bool crossAttentionBatchQuirk, Device? device = null,
        double attnScaleInit = StarConfig.ReferenceAttnScaleInit, int localMixKernel = 0) : base(nameof(AttnBlock))
    {
        _width = embedDim;
        _crossBatchQuirk = crossAttentionBatchQuirk;
        _attn = new Attention(embedDim, numHeads, attnL2Norm, device: device, attnScaleInit: attnScaleInit);
        if (enableCross) _crossAttn = new Attention(embedDim, numHeads, attnL2Norm, isCross: true, inDimCross: inDimCross, device: device,
            attnScaleInit: attnScaleInit);
        _ffn = new FFN(embedDim, mlpHidden, device: device, localMixKernel: localMixKernel);
        _lnWoGrad = LayerNorm(embedDim, eps: normEps, elementwise_affine: false, device: device);
        if (sharedAln)
        {
            _adaGss = Owned.Parameter(empty([1, 1, 6, embedDim], device: device));
            using (no_grad()) _adaGss.normal_().div_(Math.Sqrt(embedDim));
        }
        RegisterComponents();
    }

    internal Attention Attn => _attn;
    internal FFN Ffn => _ffn;
    internal Parameter? AdaGss => _adaGss;

    /// <summary>
    /// x [B,L,C]. condLvl [1 or B, L, 6, C]: shared AdaLN condition for these tokens (null: no modulation, as the reference
    /// does whenever cond_BD is None). attnBias: self-attention mask (null with a cache). text/textMaskBias: cross-attention
    /// inputs (ignored when the block has no cross-attention or text is null). cos/sin: RoPE of these tokens.
    /// scaleSides: the sides of the whole scale maps x holds, in order (the FFN's local mix; null: none).
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? condLvl, Tensor? attnBias, Tensor? text, Tensor? textMaskBias,
        Tensor? cos, Tensor? sin, KvCache? cache = null, int block = 0, IReadOnlyList<int>? scaleSides = null)
    {
        using var scope = NewDisposeScope();
        Tensor? gamma1 = null, gamma2 = null, scale1 = null, scale2 = null, shift1 = null, shift2 = null;
        if (_adaGss is not null && condLvl is not null)
        {
            var mods = (_adaGss + condLvl).unbind(2); // 6 x [B, L, C]
            (gamma1, gamma2, scale1, scale2, shift1, shift2) = (mods[0], mods[1], mods[2], mods[3], mods[4], mods[5]);
        }

        var h = Modulate(_lnWoGrad.forward(x), scale1, shift1);
        var a = _attn.ForwardSelf(h, attnBias, cos, sin, cache, block);
        x = x + (gamma1 is null ? a : a.mul(gamma1));

        if (_crossAttn is not null && text is not null)
        {
            var c = _crossAttn.ForwardCross(_lnWoGrad.forward(x), text, textMaskBias, cache, block);
            // The reference writes cross_attn(...)[0] + x: row 0's output broadcast to every row.
            x = (_crossBatchQuirk ? c[0] : c) + x;
        }

        var f = _ffn.Forward(Modulate(_lnWoGrad.forward(x), scale2, shift2), scaleSides);
        x = x + (gamma2 is null ? f : f.mul(gamma2));
        return x.MoveToOuterDisposeScope();
    }

    static Tensor Modulate(Tensor normed, Tensor? scale, Tensor? shift) =>
        scale is null || shift is null ? normed : normed.mul(scale + 1).add(shift);
}
