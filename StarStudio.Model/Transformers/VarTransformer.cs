// Port of FoundationVision/VAR models/var.py `VAR` (class-conditional): forward, get_logits, init_weights and the
// per-scale parts of autoregressive_infer_cfg. The VQ-VAE stays outside.
// Shapes: B batch, N rows (CFG: conditional then unconditional), L all tokens, l tokens of one scale, C width,
// D condition width (= C), V vocabulary, Cvae VQ latent channels, S scales.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Model.Transformers;

/// <summary>
/// The VAR transformer. State-dict names equal the reference's; its registered buffers lvl_1L and attn_bias_for_masking
/// are persistent (they are in the released checkpoints).
/// </summary>
public sealed class VarTransformer : nn.Module, IScaleWiseTransformer
{
    readonly VarConfig _cfg;
    readonly int[] _begin, _end;
    readonly int _L, _firstL;

    // 1. input (word) embedding, 2. class embedding (+1 row: the unconditional label) and start position
    [ComponentName(Name = "word_embed")] readonly Linear _wordEmbed;
    [ComponentName(Name = "class_emb")] readonly EmbeddingTable _classEmb;
    [ComponentName(Name = "pos_start")] Parameter _posStart;
    // 3. absolute position and level embeddings
    [ComponentName(Name = "pos_1LC")] Parameter _pos1LC;
    [ComponentName(Name = "lvl_embed")] readonly EmbeddingTable _lvlEmbed;
    // 4. backbone
    [ComponentName(Name = "shared_ada_lin")] readonly Sequential? _sharedAdaLin;
    [ComponentName(Name = "blocks")] readonly ModuleList<AdaLNSelfAttn> _blocks;
    // 5. buffers: level of every token [1,L] (int64) and the scale-causal mask [1,1,L,L]
    [ComponentName(Name = "lvl_1L")] Tensor _lvl_1L;
    [ComponentName(Name = "attn_bias_for_masking")] Tensor _attnBiasForMasking;
    // 6. classifier head
    [ComponentName(Name = "head_nm")] readonly AdaLNBeforeHead _headNm;
    [ComponentName(Name = "head")] readonly Linear _head;

    public VarTransformer(VarConfig config, Device? device = null) : base(nameof(VarTransformer))
    {
        config.Validate();
        _cfg = config;
        int C = config.Width, S = config.NumScales;
        var layout = new ScaleLayout(config.PatchNums);
        (_begin, _end, _L, _firstL) = (layout.Begin, layout.End, layout.L, layout.FirstL);
        double initStd = Math.Sqrt(1.0 / C / 3);

        _wordEmbed = Linear(config.Cvae, C, device: device);
        _classEmb = new EmbeddingTable(config.NumClasses + 1, C, device);
        _posStart = Owned.Parameter(empty([1, _firstL, C], device: device));
        _pos1LC = Owned.Parameter(empty([1, _L, C], device: device));
        _lvlEmbed = new EmbeddingTable(S, C, device);
        if (config.SharedAln)
            _sharedAdaLin = Sequential(("0", SiLU()), ("1", new SharedAdaLin(C, 6 * C, keepTokens: false, device: device)));

        var blocks = new AdaLNSelfAttn[config.Depth];
        for (int i = 0; i < config.Depth; i++)
            blocks[i] = new AdaLNSelfAttn(C, C, config.Heads, config.MlpHidden, config.NormEps, config.AttnL2Norm, config.SharedAln, device);
        _blocks = ModuleList(blocks);

        var lvl = layout.LevelOfToken();
        // Built on the CPU and moved: the meta device lacks kernels for the mask ops.
        using (var cpuLvl = tensor(lvl, [1, _L]))
        using (var cpuMask = Masks.ScaleCausal(cpuLvl))
        {
            _lvl_1L = Owned.Buffer(cpuLvl.to(device ?? CPU, copy: true));
            _attnBiasForMasking = Owned.Buffer(cpuMask.to(device ?? CPU, copy: true));
        }

        _headNm = new AdaLNBeforeHead(C, C, config.NormEps, device);
        _head = Linear(C, config.VocabSize, device: device);

        using (no_grad())
        {
            TruncNormal.Fill_(_classEmb.Weight, initStd);
            TruncNormal.Fill_(_posStart, initStd);
            TruncNormal.Fill_(_pos1LC, initStd);
            TruncNormal.Fill_(_lvlEmbed.Weight, initStd);
        }
        RegisterComponents();
    }

    public VarConfig Config => _cfg;
    public IReadOnlyList<int> PatchNums => _cfg.PatchNums;
    public int Cvae => _cfg.Cvae;
    public int VocabSize => _cfg.VocabSize;
    public int Width => _cfg.Width;
    public int Depth => _cfg.Depth;
    public int NumClasses => _cfg.NumClasses;
    public int TotalTokens => _L;
    public int FirstL => _firstL;
    public (int Begin, int End) ScaleRange(int si) => (_begin[si], _end[si]);

    public KvCache NewCache() => new(_cfg.Depth);

    // ---------------------------------------------------------------- inputs

    /// <summary>sos = class_emb(label) broadcast over the first scale + pos_start + (lvl_embed + pos_1LC) of scale 0.</summary>
    public Tensor StartTokens(ScaleConditioning cond)
    {
        var labels = RequireLabels(cond);
        using var scope = NewDisposeScope();
        long N = labels.shape[0];
        var sos = _classEmb.forward(labels);                                                       // [N, C]
        var x = sos.unsqueeze(1).expand(N, _firstL, _cfg.Width) + _posStart + LevelPos(0, _firstL);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>word_embed(next-scale map [N, pn*pn, Cvae]) + (lvl_embed + pos_1LC) of scale si.</summary>
    public Tensor ScaleInput(Tensor nextTokenMap_NlCvae, int si)
    {
        CheckScale(si, allowZero: false);
        int l = _end[si] - _begin[si];
        if (nextTokenMap_NlCvae.dim() != 3 || nextTokenMap_NlCvae.shape[1] != l || nextTokenMap_NlCvae.shape[2] != _cfg.Cvae)
            throw new ArgumentException($"Scale {si} input must be [N, {l}, {_cfg.Cvae}], got [{string.Join(",", nextTokenMap_NlCvae.shape)}].");
        using var scope = NewDisposeScope();
        var x = _wordEmbed.forward(nextTokenMap_NlCvae) + LevelPos(_begin[si], _end[si]);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The reference's lvl_pos = lvl_embed(lvl_1L) + pos_1LC for tokens [b, e): [1, e-b, C].</summary>
    Tensor LevelPos(int b, int e) => _lvlEmbed.forward(_lvl_1L.narrow(1, b, e - b)) + _pos1LC.narrow(1, b, e - b);

    /// <summary>cond_BD = class_emb(labels) [N, D].</summary>
    public Tensor ConditionEmbedding(ClassConditioning cond) => _classEmb.forward(RequireLabels(cond));

    /// <summary>What the blocks receive: cond_BD, or shared_ada_lin(cond_BD) [N,1,6,C] with shared AdaLN.</summary>
    Tensor BlockCondition(Tensor condBD) => _sharedAdaLin is null ? condBD : _sharedAdaLin.forward(condBD);

    // ---------------------------------------------------------------- inference, one scale at a time

    /// <summary>Runs every block on scale si's tokens x [N,l,C] against the cache, then appends this scale. Runs under no_grad.</summary>
    public Tensor ForwardScale(Tensor x_NlC, int si, ScaleConditioning cond, KvCache cache)
    {
        var labels = RequireLabels(cond);
        CheckScale(si, allowZero: true);
        int b = _begin[si], e = _end[si];
        if (x_NlC.dim() != 3 || x_NlC.shape[0] != labels.shape[0] || x_NlC.shape[1] != e - b || x_NlC.shape[2] != _cfg.Width)
            throw new ArgumentException($"Scale {si} tokens must be [{labels.shape[0]}, {e - b}, {_cfg.Width}], got [{string.Join(",", x_NlC.shape)}].");
        ObjectDisposedException.ThrowIf(cache.IsDisposed, cache);
        if (cache.Depth != _cfg.Depth) throw new ArgumentException($"The cache serves {cache.Depth} blocks, the model has {_cfg.Depth}.");
        if (cache.Length != b)
            throw new InvalidOperationException($"Scale {si} starts at token {b} but the cache holds {cache.Length}: scales must run in order 0..{_cfg.NumScales - 1} on a fresh cache.");

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var gss = BlockCondition(_classEmb.forward(labels));
        var x = x_NlC;
        for (int i = 0; i < _cfg.Depth; i++)
            x = _blocks[i].Forward(x, gss, null, cache, i);
        cache.CommitScale(e - b);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Logits [N,l,V] = head(head_nm(h, cond_BD)) (get_logits).</summary>
    public Tensor Logits(Tensor h_NlC, int si, ScaleConditioning cond, Tensor? x_NlC = null)
    {
        var labels = RequireLabels(cond);
        if (h_NlC.shape[0] != labels.shape[0]) throw new ArgumentException($"Hidden has {h_NlC.shape[0]} rows, the labels {labels.shape[0]}.");
        using var scope = NewDisposeScope();
        return GetLogits(h_NlC, _classEmb.forward(labels)).MoveToOuterDisposeScope();
    }

    Tensor GetLogits(Tensor h, Tensor condBD) => _head.forward(_headNm.forward(h, condBD));

    // ---------------------------------------------------------------- training / teacher forcing

    public Tensor ForwardTeacherForced(Tensor x_BLCvae_woFirstL, ScaleConditioning cond)
    {
        var (logits, hidden) = Forward(x_BLCvae_woFirstL, (ClassConditioning)RequireClass(cond));
        hidden.Dispose();
        return logits;
    }

    /// <summary>
    /// var.VAR.forward over all scales with attn_bias_for_masking: x [B, L-first_l, Cvae] -> logits [B,L,V] and the last
    /// block's hidden [B,L,C]. Labels are used as given: the trainer applies cond_drop_rate (see <see cref="DropLabels"/>).
    /// </summary>
    public (Tensor Logits, Tensor Hidden) Forward(Tensor x_BLCv_wo_first_l, ClassConditioning cond)
    {
        var labels = RequireLabels(cond);
        long B = x_BLCv_wo_first_l.shape[0];
        if (x_BLCv_wo_first_l.dim() != 3 || x_BLCv_wo_first_l.shape[1] != _L - _firstL || x_BLCv_wo_first_l.shape[2] != _cfg.Cvae)
            throw new ArgumentException($"Teacher-forcing input must be [B, {_L - _firstL}, {_cfg.Cvae}], got [{string.Join(",", x_BLCv_wo_first_l.shape)}].");
        if (labels.shape[0] != B) throw new ArgumentException($"{labels.shape[0]} labels for a batch of {B}.");

        using var scope = NewDisposeScope();
        var condBD = _classEmb.forward(labels);
        var sos = condBD.unsqueeze(1).expand(B, _firstL, _cfg.Width) + _posStart;
        var x = cat([sos, _wordEmbed.forward(x_BLCv_wo_first_l)], dim: 1) + LevelPos(0, _L);     // [B, L, C]
        var gss = BlockCondition(condBD);
        for (int i = 0; i < _cfg.Depth; i++)
            x = _blocks[i].Forward(x, gss, _attnBiasForMasking);
        var logits = GetLogits(x, condBD);
        return (logits.MoveToOuterDisposeScope(), x.MoveToOuterDisposeScope());
    }

    /// <summary>Classifier-free-guidance training: each label becomes the unconditional one with probability rate.</summary>
    public Tensor DropLabels(Tensor labels, double rate, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var drop = rand(labels.shape, generator: generator, device: labels.device) < rate;
        return labels.masked_fill(drop, _cfg.NumClasses).MoveToOuterDisposeScope();
    }

    // ---------------------------------------------------------------- initialisation

    /// <summary>
    /// init_weights: truncated-normal Linear/Embedding weights (std; negative = automatic sqrt(1/(3C))), zero biases; head
    /// scaled by initHead; head_nm's ada_lin by initAdaln; proj and fc2 divided by sqrt(2 depth); per-block ada_lin rows
    /// [2C:] (scales, shifts) by initAdaln and [:2C] (gammas) by initAdalnGamma; ada_gss likewise.
    /// </summary>
    public void InitWeights(double initAdaln = 0.5, double initAdalnGamma = 1e-5, double initHead = 0.02, double initStd = 0.02)
    {
        if (initStd < 0) initStd = Math.Sqrt(1.0 / _cfg.Width / 3);
        int C = _cfg.Width;
        using var noGrad = no_grad();
        foreach (var (_, m) in named_modules())
        {
            switch (m)
            {
                case Linear lin:
                    TruncNormal.Fill_(lin.weight!, initStd);
                    lin.bias?.zero_();
                    break;
                case EmbeddingTable emb:
                    TruncNormal.Fill_(emb.Weight, initStd);
                    break;
                case SharedAdaLin sal:
                    TruncNormal.Fill_(sal.Weight, initStd);
                    sal.Bias.zero_();
                    break;
            }
        }
        if (initHead >= 0)
        {
            _head.weight!.mul_(initHead);
            _head.bias!.zero_();
        }
        _headNm.AdaLinLinear.weight!.mul_(initAdaln);
        _headNm.AdaLinLinear.bias!.zero_();
        double div = Math.Sqrt(2.0 * _cfg.Depth);
        foreach (var blk in _blocks)
        {
            blk.Attn.Proj.weight!.div_(div);
            blk.Ffn.Fc2.weight!.div_(div);
            if (blk.AdaLinLinear is { } ada)
            {
                ada.weight!.narrow(0, 2 * C, 4 * C).mul_(initAdaln);
                ada.weight!.narrow(0, 0, 2 * C).mul_(initAdalnGamma);
                ada.bias?.zero_();
            }
            else if (blk.AdaGss is { } gss)
            {
                gss.narrow(2, 2, 4).mul_(initAdaln);
                gss.narrow(2, 0, 2).mul_(initAdalnGamma);
            }
        }
    }

    // ---------------------------------------------------------------- checks

    static ScaleConditioning RequireClass(ScaleConditioning cond) =>
        cond is ClassConditioning ? cond : throw new ArgumentException($"VAR is conditioned on class labels; got {cond.GetType().Name}.", nameof(cond));

    Tensor RequireLabels(ScaleConditioning cond)
    {
        var labels = ((ClassConditioning)RequireClass(cond)).Labels;
        if (labels.dim() != 1 || labels.dtype != ScalarType.Int64)
            throw new ArgumentException($"Class labels must be int64 [N], got {labels.dtype} [{string.Join(",", labels.shape)}].");
        if (labels.device_type != DeviceType.META && labels.numel() > 0)
        {
            using var scope = NewDisposeScope();
            long lo = labels.min().item<long>(), hi = labels.max().item<long>();
            if (lo < 0 || hi > _cfg.NumClasses)
                throw new ArgumentException($"Class labels must lie in [0, {_cfg.NumClasses}] ({_cfg.NumClasses} = unconditional), got [{lo}, {hi}].");
        }
        return labels;
    }

    void CheckScale(int si, bool allowZero)
    {
        if (si < (allowZero ? 0 : 1) || si >= _cfg.NumScales)
            throw new ArgumentOutOfRangeException(nameof(si), si, $"Scale index must lie in [{(allowZero ? 0 : 1)}, {_cfg.NumScales - 1}].");
    }
}
