// Follows FoundationVision/VAR models/basic_var.py (`AdaLNSelfAttn`, `AdaLNBeforeHead`) and models/var.py (`SharedAdaLin`);
// STAR-T2I's var_drop.py `SharedAdaLin` is the per-token variant (keepTokens).
// Shapes: B batch, L tokens, C width, D condition width (= C).
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Model.Transformers;

/// <summary>
/// A linear layer whose output is viewed as 6 modulations: VAR's [B,1,6,C] (one per sample), or STAR's [B,L,6,C]
/// (one per token) when keepTokens. Linear is sealed in TorchSharp, so this owns its weight and bias.
/// </summary>
public sealed class SharedAdaLin : Module<Tensor, Tensor>
{
    readonly int _c;
    readonly bool _keepTokens;
    [ComponentName(Name = "weight")] Parameter _weight;
    [ComponentName(Name = "bias")] Parameter _bias;

    public SharedAdaLin(int inFeatures, int outFeatures, bool keepTokens = false, Device? device = null) : base(nameof(SharedAdaLin))
    {
        if (outFeatures % 6 != 0) throw new ArgumentException($"out features {outFeatures} must be 6 * C.");
        _c = outFeatures / 6;
        _keepTokens = keepTokens;
        // Same initialisation as nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
        double bound = 1.0 / Math.Sqrt(inFeatures);
        _weight = Owned.Parameter(empty([outFeatures, inFeatures], device: device));
        _bias = Owned.Parameter(empty(outFeatures, device: device));
        using (no_grad())
        {
            _weight.uniform_(-bound, bound);
            _bias.uniform_(-bound, bound);
        }
        RegisterComponents();
    }

    internal Parameter Weight => _weight;
    internal Parameter Bias => _bias;

    public override Tensor forward(Tensor cond)
    {
        using var scope = NewDisposeScope();
        var y = functional.linear(cond, _weight, _bias);
        var r = _keepTokens ? y.view(cond.shape[0], cond.shape[1], 6, _c) : y.view(-1, 1, 6, _c);
        return r.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// VAR block: six modulations (gamma1, gamma2, scale1, scale2, shift1, shift2) from ada_lin(cond_BD) (or ada_gss + the
/// shared condition); x += attn(LN(x)(1+scale1)+shift1) * gamma1; x += ffn(LN(x)(1+scale2)+shift2) * gamma2.
/// </summary>
public sealed class AdaLNSelfAttn : nn.Module
{
    readonly int _c;
    [ComponentName(Name = "attn")] readonly Attention _attn;
    [ComponentName(Name = "ffn")] readonly FFN _ffn;
    [ComponentName(Name = "ln_wo_grad")] readonly LayerNorm _lnWoGrad;
    [ComponentName(Name = "ada_gss")] Parameter? _adaGss;
    [ComponentName(Name = "ada_lin")] readonly Sequential? _adaLin;

    public AdaLNSelfAttn(int embedDim, int condDim, int numHeads, int mlpHidden, double normEps, bool attnL2Norm, bool sharedAln, Device? device = null)
        : base(nameof(AdaLNSelfAttn))
    {
        _c = embedDim;
        _attn = new Attention(embedDim, numHeads, attnL2Norm, device: device);
        _ffn = new FFN(embedDim, mlpHidden, device: device);
        _lnWoGrad = LayerNorm(embedDim, eps: normEps, elementwise_affine: false, device: device);
        if (sharedAln)
        {
            _adaGss = Owned.Parameter(empty([1, 1, 6, embedDim], device: device));
            using (no_grad()) _adaGss.normal_().div_(Math.Sqrt(embedDim));
        }
        else
        {
            _adaLin = Sequential(("0", SiLU()), ("1", Linear(condDim, 6 * embedDim, device: device)));
        }
        RegisterComponents();
    }

    internal Attention Attn => _attn;
    internal FFN Ffn => _ffn;
    internal Parameter? AdaGss => _adaGss;
    internal Linear? AdaLinLinear => (Linear?)_adaLin?[1];

    /// <summary>x [B,L,C]; condBD [B,D], or the shared [B,1,6,C] when shared_aln; attnBias null with a cache.</summary>
    public Tensor Forward(Tensor x, Tensor condBD, Tensor? attnBias, KvCache? cache = null, int block = 0)
    {
        using var scope = NewDisposeScope();
        var mods = (_adaGss is not null ? _adaGss + condBD : _adaLin!.forward(condBD).view(-1, 1, 6, _c)).unbind(2); // 6 x [B,1,C]
        var (gamma1, gamma2, scale1, scale2, shift1, shift2) = (mods[0], mods[1], mods[2], mods[3], mods[4], mods[5]);
        var a = _attn.ForwardSelf(_lnWoGrad.forward(x).mul(scale1 + 1).add(shift1), attnBias, cache: cache, block: block);
        x = x + a.mul(gamma1);
        var f = _ffn.forward(_lnWoGrad.forward(x).mul(scale2 + 1).add(shift2));
        x = x + f.mul(gamma2);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>VAR's head_nm: LN(x) * (1 + scale) + shift with (scale, shift) = ada_lin(cond_BD).</summary>
public sealed class AdaLNBeforeHead : Module<Tensor, Tensor, Tensor>
{
    readonly int _c;
    [ComponentName(Name = "ln_wo_grad")] readonly LayerNorm _lnWoGrad;
    [ComponentName(Name = "ada_lin")] readonly Sequential _adaLin;

    public AdaLNBeforeHead(int c, int d, double normEps, Device? device = null) : base(nameof(AdaLNBeforeHead))
    {
        _c = c;
        _lnWoGrad = LayerNorm(c, eps: normEps, elementwise_affine: false, device: device);
        _adaLin = Sequential(("0", SiLU()), ("1", Linear(d, 2 * c, device: device)));
        RegisterComponents();
    }

    internal Linear AdaLinLinear => (Linear)_adaLin[1];

    /// <summary>x [B,L,C], cond [B,D] -> [B,L,C].</summary>
    public override Tensor forward(Tensor x_BLC, Tensor condBD)
    {
        using var scope = NewDisposeScope();
        var ss = _adaLin.forward(condBD).view(-1, 1, 2, _c).unbind(2);
        return _lnWoGrad.forward(x_BLC).mul(ss[0] + 1).add(ss[1]).MoveToOuterDisposeScope();
    }
}
