// Follows STAR-T2I models/basic_var.py `Attention` (self- and cross-attention) and `FFN`; FoundationVision/VAR's
// `SelfAttention` is the self-attention case without RoPE (same state-dict names).
// Shapes: B batch (or N rows), L query tokens, H heads, c head dim, C width, T text tokens, D text width.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Model.Transformers;

/// <summary>
/// Multi-head attention with q and v biases and a fixed zero k bias. Self: one fused mat_qkv, optional 2D RoPE on q and k.
/// Cross: mat_q on the tokens, mat_kv on the text. With attn_l2_norm, q and k are L2-normalised and q is multiplied by
/// exp(min(scale_mul_1H11, log 100)) with attention scale 1; otherwise the scale is 0.25 / sqrt(c).
/// </summary>
public sealed class Attention : nn.Module
{
    readonly int _numHeads, _headDim, _width;
    readonly bool _isCross, _l2Norm;
    readonly double _scale;
    static readonly double MaxScaleMul = Math.Log(100);

    [ComponentName(Name = "scale_mul_1H11")] Parameter? _scaleMul_1H11;
    [ComponentName(Name = "mat_qkv")] readonly Linear? _matQkv;
    [ComponentName(Name = "mat_q")] readonly Linear? _matQ;
    [ComponentName(Name = "mat_kv")] readonly Linear? _matKv;
    [ComponentName(Name = "q_bias")] Parameter _qBias;
    [ComponentName(Name = "v_bias")] Parameter _vBias;
    [ComponentName(Name = "zero_k_bias")] Tensor _zeroKBias;
    [ComponentName(Name = "proj")] readonly Linear _proj;

    public Attention(int embedDim, int numHeads, bool attnL2Norm, bool isCross = false, int inDimCross = 1024, Device? device = null,
        double attnScaleInit = StarConfig.ReferenceAttnScaleInit)
        : base(isCross ? "CrossAttention" : "SelfAttention")
    {
        if (embedDim % numHeads != 0) throw new ArgumentException($"embed dim {embedDim} is not a multiple of heads {numHeads}.");
        _width = embedDim;
        _numHeads = numHeads;
        _headDim = embedDim / numHeads;
        _isCross = isCross;
        _l2Norm = attnL2Norm;
        _scale = attnL2Norm ? 1.0 : 0.25 / Math.Sqrt(_headDim);
        if (attnL2Norm)
            _scaleMul_1H11 = Owned.Parameter(full([1, numHeads, 1, 1], Math.Log(attnScaleInit), dtype: ScalarType.Float32, device: device));
        if (isCross)
        {
            _matKv = Linear(inDimCross, embedDim * 2, hasBias: false, device: device);
            _matQ = Linear(embedDim, embedDim, hasBias: false, device: device);
        }
        else
        {
            _matQkv = Linear(embedDim, embedDim * 3, hasBias: false, device: device);
        }
        _qBias = Owned.Parameter(zeros(embedDim, device: device));
        _vBias = Owned.Parameter(zeros(embedDim, device: device));
        _zeroKBias = Owned.Buffer(zeros(embedDim, device: device));
        _proj = Linear(embedDim, embedDim, device: device);
        RegisterComponents();
    }

    public bool IsCross => _isCross;
    internal Linear Proj => _proj;
    internal Parameter? ScaleMul => _scaleMul_1H11;

    /// <summary>
    /// Self-attention over x [B,L,C]. attnBias: additive mask broadcastable to [B,H,L,Lk] (null in cached inference).
    /// cos/sin [L, c/2]: RoPE for these L tokens, or null. cache: appends this call's K/V for block and attends to all of it.
    /// </summary>
    public Tensor ForwardSelf(Tensor x_BLC, Tensor? attnBias = null, Tensor? cos = null, Tensor? sin = null, KvCache? cache = null, int block = 0)
    {
        if (_isCross) throw new InvalidOperationException("This is a cross-attention module; call ForwardCross.");
        CheckInput(x_BLC);
        long B = x_BLC.shape[0], L = x_BLC.shape[1];
        using var scope = NewDisposeScope();
        var bias = cat([_qBias, _zeroKBias, _vBias]);
        var qkv = functional.linear(x_BLC, _matQkv!.weight, bias).view(B, L, 3, _numHeads, _headDim).permute(2, 0, 3, 1, 4); // [3,B,H,L,c]
        var (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        if (cos is not null && sin is not null)
        {
            q = Rope2D.Apply(q, cos, sin);
            k = Rope2D.Apply(k, cos, sin);
        }
        if (_l2Norm)
        {
            q = functional.normalize(q, dim: -1).mul(ScaleMulFactor());
            k = functional.normalize(k, dim: -1);
        }
        if (cache is not null) (k, v) = cache.AppendSelf(block, k, v);
        var oup = Attend(q, k, v, attnBias).transpose(1, 2).reshape(B, L, _width);
        return _proj.forward(oup).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Cross-attention of x [B,L,C] to text hidden states enc [B,T,D]; maskBias [B,1,1,T] (0 keep, -inf pad) or null.
    /// With a cache, the text's K/V are computed once per run and reused by every scale.
    /// </summary>
    public Tensor ForwardCross(Tensor x_BLC, Tensor enc_BTD, Tensor? maskBias = null, KvCache? cache = null, int block = 0)
    {
        if (!_isCross) throw new InvalidOperationException("This is a self-attention module; call ForwardSelf.");
        CheckInput(x_BLC);
        if (enc_BTD.dim() != 3 || enc_BTD.shape[0] != x_BLC.shape[0])
            throw new ArgumentException($"Text states [{string.Join(",", enc_BTD.shape)}] do not match the batch of x [{string.Join(",", x_BLC.shape)}].");
        long B = x_BLC.shape[0], L = x_BLC.shape[1];
        using var scope = NewDisposeScope();
        var q = functional.linear(x_BLC, _matQ!.weight, _qBias).view(B, L, _numHeads, _headDim).permute(0, 2, 1, 3); // [B,H,L,c]
        var (k, v) = cache is null ? CrossKV(enc_BTD) : cache.CrossKV(block, enc_BTD, () => CrossKV(enc_BTD));
        if (_l2Norm) q = functional.normalize(q, dim: -1).mul(ScaleMulFactor());
        var oup = Attend(q, k, v, maskBias).transpose(1, 2).reshape(B, L, _width);
        return _proj.forward(oup).MoveToOuterDisposeScope();
    }

    /// <summary>Text keys (L2-normalised when attn_l2_norm) and values [B,H,T,c].</summary>
    (Tensor K, Tensor V) CrossKV(Tensor enc_BTD)
    {
        long B = enc_BTD.shape[0];
        var kv = functional.linear(enc_BTD, _matKv!.weight, cat([_zeroKBias, _vBias]))
            .view(B, -1, 2, _numHeads, _headDim).permute(2, 0, 3, 1, 4); // [2,B,H,T,c]
        var k = kv[0];
        if (_l2Norm) k = functional.normalize(k, dim: -1);
        return (k, kv[1]);
    }

    Tensor ScaleMulFactor() => _scaleMul_1H11!.clamp_max(MaxScaleMul).exp();

    /// <summary>
    /// softmax(scale * q k^T + bias) v. TorchSharp's scaled_dot_product_attention has no scale argument and divides by
    /// sqrt(c) itself, so the reference's scale is folded into q.
    /// </summary>
    Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? bias)
    {
        double fold = _scale * Math.Sqrt(_headDim);
        return functional.scaled_dot_product_attention(q.mul(fold), k, v, attn_mask: bias);
    }

    void CheckInput(Tensor x)
    {
        if (x.dim() != 3 || x.shape[2] != _width)
            throw new ArgumentException($"Attention input must be [B, L, {_width}], got [{string.Join(",", x.shape)}].");
    }
}

/// <summary>
/// Two-layer MLP with tanh-approximate GELU (basic_var.py `FFN`). With <c>localMixKernel</c> > 0 (StarStudio's
/// option, <see cref="StarConfig.LocalMixKernel"/>; never in official files) each scale's token map first passes a
/// depthwise k x k conv, added to it: fc1(x + conv(x)); with fc1 that is a depthwise-separable conv. The conv starts at
/// zero, so the block starts as the reference's. It works at the model's width, not on fc1's 4x wider hidden features,
/// where it made a training step of the shapes model 1.4x slower.
/// </summary>
public sealed class FFN : Module<Tensor, Tensor>
{
    [ComponentName(Name = "fc1")] readonly Linear _fc1;
    [ComponentName(Name = "fc2")] readonly Linear _fc2;
    [ComponentName(Name = "local_mix")] readonly Conv2d? _localMix;

    public FFN(int inFeatures, int hiddenFeatures, Device? device = null, int localMixKernel = 0) : base(nameof(FFN))
    {
        _fc1 = Linear(inFeatures, hiddenFeatures, device: device);
        _fc2 = Linear(hiddenFeatures, inFeatures, device: device);
        if (localMixKernel > 0)
        {
            if (localMixKernel % 2 == 0) throw new ArgumentException($"The local mix kernel must be odd, got {localMixKernel}.");
            _localMix = Conv2d(inFeatures, inFeatures, localMixKernel, padding: localMixKernel / 2, groups: inFeatures, device: device);
            using (no_grad()) { _localMix.weight!.zero_(); _localMix.bias!.zero_(); }
        }
        RegisterComponents();
    }

    internal Linear Fc2 => _fc2;
    internal Conv2d? LocalMix => _localMix;

    /// <summary>Token-wise only: without the local mix, or where x's tokens are not whole scale maps.</summary>
    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>
    /// x [B, L, C] whose L tokens are the row-major maps of consecutive scales with these sides (the local mix convolves
    /// each map on its own: a token never mixes with another scale's). Null sides: no local mix.
    /// </summary>
    public Tensor Forward(Tensor x, IReadOnlyList<int>? scaleSides)
    {
        using var scope = NewDisposeScope();
        if (_localMix is not null && scaleSides is not null) x = x + MixEachScale(x, scaleSides);
        var h = functional.gelu(_fc1.forward(x), TorchSharp.Modules.GELU.Approximate.tanh);
        return _fc2.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The depthwise conv as k^2 shifted multiply-adds on the tokens' own channels-last layout (no transposes); the same
    /// sums as Conv2d(groups = C) on each map (LocalMixTests). Measured on fc1's hidden features, a shapes training step
    /// took about 5 s with libtorch's Conv2d, 4.4 s with these, 3.1 s without; at the model's width they cost little.
    /// </summary>
    Tensor MixEachScale(Tensor h_BLH, IReadOnlyList<int> sides)
    {
        long B = h_BLH.shape[0], Hd = h_BLH.shape[2];
        if (sides.Sum(pn => (long)pn * pn) != h_BLH.shape[1])
            throw new ArgumentException($"Scale sides {string.Join(",", sides)} cover {sides.Sum(pn => pn * pn)} tokens, the input has {h_BLH.shape[1]}.");
        int k = (int)_localMix!.weight!.shape[2], r = k / 2;
        var w_KH = _localMix.weight.view(Hd, k * k).t();                      // [k*k, H]: tap (dy, dx) at row dy*k+dx
        var parts = new List<Tensor>(sides.Count);
        long begin = 0;
        foreach (int pn in sides)
        {
            var map = h_BLH.narrow(1, begin, (long)pn * pn).reshape(B, pn, pn, Hd);
            var padded = functional.pad(map, [0, 0, r, r, r, r]);               // zero border, as Conv2d's padding
            Tensor acc = _localMix.bias!.expand(B, pn, pn, Hd);
            for (int dy = 0; dy < k; dy++)
                for (int dx = 0; dx < k; dx++)
                    acc = acc + padded.narrow(1, dy, pn).narrow(2, dx, pn) * w_KH[dy * k + dx];
            parts.Add(acc.reshape(B, (long)pn * pn, Hd));
            begin += (long)pn * pn;
        }
        return parts.Count == 1 ? parts[0] : cat(parts, 1);
    }
}
