// Port of STAR-T2I models/var_drop.py `VAR` (the STAR text-to-image transformer): forward, get_logits, sample,
// forward_sampler, init_weights, and the per-scale parts of autoregressive_infer_cfg. The VQ-VAE stays outside.
// Shapes: B batch, N rows (CFG: conditional then unconditional), L all tokens, l tokens of one scale, C width,
// V vocabulary, T text tokens, Ct text width, Cvae VQ latent channels, S scales.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Model.Transformers;

/// <summary>
/// The STAR transformer. State-dict names equal the reference's exactly; its plain attributes (lvl_1L, freqs_cis, the
/// masks) are non-persistent here and never enter the state dict.
/// </summary>
public sealed class StarTransformer : nn.Module, IScaleWiseTransformer, IStableSamplerHead
{
    readonly StarConfig _cfg;
    readonly int[] _begin, _end;
    readonly int _L, _firstL;

    // 1. input (word) embedding, 2. class embedding (unused by STAR, kept: it is in the checkpoints) and start position
    [ComponentName(Name = "word_embed")] readonly Linear _wordEmbed;
    [ComponentName(Name = "class_emb")] readonly EmbeddingTable _classEmb;
    [ComponentName(Name = "pos_start")] Parameter _posStart;
    // 3. absolute positions (without RoPE, or with AbsolutePosEmb); level embedding; shared AdaLN over levels (never in released models)
    [ComponentName(Name = "pos_1LC")] Parameter? _pos1LC;
    [ComponentName(Name = "lvl_embed")] readonly EmbeddingTable? _lvlEmbed;
    [ComponentName(Name = "lvl_embed_proj")] readonly Linear? _lvlEmbedProj;
    [ComponentName(Name = "lvl_embed_adaln")] readonly Sequential? _lvlEmbedAdaln;
    // 4. backbone
    [ComponentName(Name = "blocks")] readonly ModuleList<AttnBlock> _blocks;
    // 6. heads
    [ComponentName(Name = "head_logits")] readonly Linear _headLogits;
    [ComponentName(Name = "head_codebook")] readonly CodebookHead? _headCodebook;
    [ComponentName(Name = "head_detail")] readonly DetailHead? _headDetail;
    [ComponentName(Name = "encoder_proj")] readonly Linear _encoderProj;
    [ComponentName(Name = "logit_norm")] readonly LayerNorm? _logitNorm;
    // causal-driven stable sampler head (enable_adaptive_norm)
    [ComponentName(Name = "word_embed_head")] readonly Linear? _wordEmbedHead;
    [ComponentName(Name = "feat_extract_blocks")] readonly ModuleList<AttnBlock>? _featExtractBlocks;
    [ComponentName(Name = "pos_start_last")] Parameter? _posStartLast;
    [ComponentName(Name = "head_logits2")] readonly Linear? _headLogits2;
    [ComponentName(Name = "encoder_proj2")] readonly Linear? _encoderProj2;
    [ComponentName(Name = "head_proj")] readonly Linear? _headProj;
    [ComponentName(Name = "lvl_embed_2")] readonly EmbeddingTable? _lvlEmbed2;
    // Plain attributes in the reference (lvl_1L, freqs_cis): not state. TorchSharp would register a Tensor field as a
    // persistent buffer and never moves non-persistent ones, so they live in a holder that _toEpilog moves explicitly.
    readonly Attributes _attrs;

    /// <summary>Level of every token [1, L] (int64) and the RoPE tables [L, c/2].</summary>
    sealed class Attributes : IDisposable
    {
        public Tensor Lvl_1L = null!;
        public Tensor? RopeCos, RopeSin;

        public void MoveTo(Device device)
        {
            Lvl_1L = Move(Lvl_1L, device)!;
            RopeCos = Move(RopeCos, device);
            RopeSin = Move(RopeSin, device);
        }

        static Tensor? Move(Tensor? t, Device device)
        {
            if (t is null || (t.device_type == device.type && t.device_index == device.index)) return t;
            var moved = t.to(device).DetachFromDisposeScope();
            t.Dispose();
            return moved;
        }

        public void Dispose()
        {
            Lvl_1L.Dispose();
            RopeCos?.Dispose();
            RopeSin?.Dispose();
        }
    }

    public StarTransformer(StarConfig config, Device? device = null) : base(nameof(StarTransformer))
    {
        config.Validate();
        if (config.StableSamplerHead && config.PatchNums[0] != 1)
            throw new ArgumentException("The sampler head prepends one pooled-text token: it needs a 1x1 first scale.");
        _cfg = config;
        int C = config.Width, S = config.NumScales;
        var layout = new ScaleLayout(config.PatchNums);
        (_begin, _end, _L, _firstL) = (layout.Begin, layout.End, layout.L, layout.FirstL);
        double initStd = Math.Sqrt(1.0 / C / 3);

        _wordEmbed = Linear(config.Cvae, C, device: device);
        _classEmb = new EmbeddingTable(config.NumClasses + 1, C, device);
        _posStart = Owned.Parameter(empty([1, _firstL, C], device: device));
        if (!config.RotaryPosEmb || config.AbsolutePosEmb) _pos1LC = Owned.Parameter(empty([1, _L, C], device: device));
        if (config.AbsoluteLevelEmb || config.SharedAln) _lvlEmbed = new EmbeddingTable(S, C, device);
        if (config.SharedAln)
        {
            _lvlEmbedProj = Linear(2 * C, C, device: device);
            _lvlEmbedAdaln = Sequential(("0", SiLU()), ("1", new SharedAdaLin(C, 6 * C, keepTokens: true, device: device)));
        }

        var blocks = new AttnBlock[config.Depth];
        for (int i = 0; i < config.Depth; i++)
            blocks[i] = new AttnBlock(C, config.Heads, config.MlpHidden, config.NormEps, config.AttnL2Norm, config.EnableCross,
                config.TextDim, config.SharedAln, config.CrossAttentionBatchQuirk, device, config.AttnScaleInit, config.LocalMixKernel);
        _blocks = ModuleList(blocks);

        _headLogits = Linear(C, config.VocabSize, device: device);
        if (config.CodebookHead > 0) _headCodebook = new CodebookHead(C, zeros(config.VocabSize, config.Cvae, device: device), config.CodebookHead);
        if (config.DetailHeadFromScale > 0)
            _headDetail = new DetailHead(C, config.DetailHeadWidth, config.DetailHeadLayers, config.VocabSize, device);
        _encoderProj = Linear(config.TextDim, C, device: device);
        if (config.LogitNorm || config.StableSamplerHead)
            _logitNorm = LayerNorm(C, eps: config.NormEps, elementwise_affine: false, device: device);

        if (config.StableSamplerHead)
        {
            _wordEmbedHead = Linear(config.Cvae, C, device: device);
            var fe = new AttnBlock[config.SamplerDepth];
            for (int i = 0; i < fe.Length; i++)
                fe[i] = new AttnBlock(C, config.Heads, config.MlpHidden, config.NormEps, config.AttnL2Norm, enableCross: false,
                    config.TextDim, config.SharedAln, crossAttentionBatchQuirk: false, device, config.AttnScaleInit);
            _featExtractBlocks = ModuleList(fe);
            _posStartLast = Owned.Parameter(empty([1, _firstL, C], device: device));
            _headLogits2 = Linear(C, config.VocabSize, device: device);
            _encoderProj2 = Linear(config.TextDim, C, device: device);
            _headProj = Linear(2 * C, C, device: device);
            _lvlEmbed2 = new EmbeddingTable(S, C, device);
        }

        using (no_grad())
        {
            TruncNormal.Fill_(_classEmb.Weight, initStd);
            TruncNormal.Fill_(_posStart, initStd);
            if (_pos1LC is not null) TruncNormal.Fill_(_pos1LC, initStd);
            if (_lvlEmbed is not null) TruncNormal.Fill_(_lvlEmbed.Weight, initStd);
            if (_posStartLast is not null) TruncNormal.Fill_(_posStartLast, initStd);
            if (_lvlEmbed2 is not null) TruncNormal.Fill_(_lvlEmbed2.Weight, initStd);
        }

        var lvl = layout.LevelOfToken();
        _attrs = new Attributes { Lvl_1L = Owned.Buffer(tensor(lvl, [1, _L]).to(device ?? CPU)) };
        if (config.RotaryPosEmb)
        {
            // The module owns the tables from here on.
            var rope = Rope2D.Build(config.PatchNums, config.HeadDim, config.RopeTheta, config.RopeNorm, device);
            _attrs.RopeCos = rope.Cos_Lc;
            _attrs.RopeSin = rope.Sin_Lc;
        }
        RegisterComponents();
    }

    Tensor _lvl_1L => _attrs.Lvl_1L;
    Tensor? _ropeCos => _attrs.RopeCos;
    Tensor? _ropeSin => _attrs.RopeSin;
    /// <summary>Token levels [1, L] (the reference's lvl_1L; not state).</summary>
    internal Tensor Lvl_1L => _attrs.Lvl_1L;
    /// <summary>RoPE cos/sin tables [L, c/2] (the reference's freqs_cis; not state), null without RoPE.</summary>
    internal (Tensor? Cos, Tensor? Sin) RopeTables => (_attrs.RopeCos, _attrs.RopeSin);

    protected override void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
    {
        base._toEpilog(dtype, device, non_blocking);
        if (device is not null) _attrs.MoveTo(device);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _attrs.Dispose();
        base.Dispose(disposing);
    }

    public StarConfig Config => _cfg;
    public IReadOnlyList<int> PatchNums => _cfg.PatchNums;
    public int Cvae => _cfg.Cvae;
    public int VocabSize => _cfg.VocabSize;
    public int Width => _cfg.Width;
    public int Depth => _cfg.Depth;
    public int SampleFromIdx => _cfg.SampleFromIdx;
    public bool HasSamplerHead => _cfg.StableSamplerHead;
    /// <summary>Total tokens L.</summary>
    public int TotalTokens => _L;
    /// <summary>Tokens of scale 0.</summary>
    public int FirstL => _firstL;
    /// <summary>[begin, end) token range of scale si in the concatenated sequence.</summary>
    public (int Begin, int End) ScaleRange(int si) => (_begin[si], _end[si]);

    public KvCache NewCache() => new(_cfg.Depth);

    // ---------------------------------------------------------------- inputs

    /// <summary>encoder_proj(pooled) broadcast over the first scale + pos_start (+ its level / position embedding).</summary>
    public Tensor StartTokens(ScaleConditioning cond)
    {
        var text = RequireText(cond);
        using var scope = NewDisposeScope();
        long N = text.Rows;
        var sos = _encoderProj.forward(text.Pooled);                                         // [N, C]
        var x = sos.unsqueeze(1).expand(N, _firstL, _cfg.Width) + _posStart;                   // [N, first_l, C]
        var lp = LevelPos(0, _firstL);
        if (lp is not null) x = x + lp;
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>word_embed of the VQ's next-scale map [N, pn*pn, Cvae] (+ the scale's level / position embedding).</summary>
    public Tensor ScaleInput(Tensor nextTokenMap_NlCvae, int si)
    {
        CheckScale(si, allowZero: false);
        int l = _end[si] - _begin[si];
        if (nextTokenMap_NlCvae.dim() != 3 || nextTokenMap_NlCvae.shape[1] != l || nextTokenMap_NlCvae.shape[2] != _cfg.Cvae)
            throw new ArgumentException($"Scale {si} input must be [N, {l}, {_cfg.Cvae}], got [{string.Join(",", nextTokenMap_NlCvae.shape)}].");
        using var scope = NewDisposeScope();
        var x = _wordEmbed.forward(nextTokenMap_NlCvae);
        var lp = LevelPos(_begin[si], _end[si]);
        if (lp is not null) x = x + lp;
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The additive embedding of tokens [b, e): lvl_embed (when absolute_lvl_emb) plus pos_1LC (without RoPE, or with
    /// StarConfig.AbsolutePosEmb), as the reference's lvl_pos; null when neither applies.
    /// </summary>
    Tensor? LevelPos(int b, int e)
    {
        Tensor? lp = null;
        if (_pos1LC is not null) lp = _pos1LC.narrow(1, b, e - b);
        if (_cfg.AbsoluteLevelEmb)
        {
            var lv = _lvlEmbed!.forward(_lvl_1L.narrow(1, b, e - b));
            lp = lp is null ? lv : lp + lv;
        }
        return lp;
    }

    // ---------------------------------------------------------------- inference, one scale at a time

    /// <summary>
    /// Runs every block on scale si's tokens x [N,l,C], attending to the cached scales, then appends this scale's K/V.
    /// Runs under no_grad: the cache is for inference only.
    /// </summary>
    public Tensor ForwardScale(Tensor x_NlC, int si, ScaleConditioning cond, KvCache cache)
    {
        var text = RequireText(cond);
        CheckScale(si, allowZero: true);
        int b = _begin[si], e = _end[si];
        if (x_NlC.dim() != 3 || x_NlC.shape[0] != text.Rows || x_NlC.shape[1] != e - b || x_NlC.shape[2] != _cfg.Width)
            throw new ArgumentException($"Scale {si} tokens must be [{text.Rows}, {e - b}, {_cfg.Width}], got [{string.Join(",", x_NlC.shape)}].");
        ObjectDisposedException.ThrowIf(cache.IsDisposed, cache);
        if (cache.Depth != _cfg.Depth) throw new ArgumentException($"The cache serves {cache.Depth} blocks, the model has {_cfg.Depth}.");
        if (cache.Length != b)
            throw new InvalidOperationException($"Scale {si} starts at token {b} but the cache holds {cache.Length}: scales must run in order 0..{_cfg.NumScales - 1} on a fresh cache.");

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (cos, sin) = RopeSlice(b, e);
        var condLvl = _cfg.SharedAln ? LevelCondition().narrow(1, b, e - b) : null;
        var maskBias = _cfg.EnableCross ? TextMaskBias(text.AttentionMask) : null;
        int[]? sides = _cfg.LocalMixKernel > 0 ? [_cfg.PatchNums[si]] : null;  // this scale's map, for the FFN's local mix
        var x = x_NlC;
        for (int i = 0; i < _cfg.Depth; i++)
            x = _blocks[i].Forward(x, condLvl, null, text.HiddenStates, maskBias, cos, sin, cache, i, sides);
        cache.CommitScale(e - b);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits [N,l,V] = head_logits(logit_norm(h)) (get_logits), plus the detail head's from
    /// <see cref="StarConfig.DetailHeadFromScale"/> on, which reads the scale's input tokens <paramref name="x_NlC"/>.
    /// cond is not needed by STAR.
    /// </summary>
    public Tensor Logits(Tensor h_NlC, int si, ScaleConditioning cond, Tensor? x_NlC = null)
    {
        if (!HasDetailHeadAt(si)) return GetLogits(h_NlC);
        if (x_NlC is null) throw new ArgumentException($"Scale {si}'s logits include the detail head, which reads the scale's input tokens: pass them.", nameof(x_NlC));
        using var scope = NewDisposeScope();
        var f = HeadFeatures(h_NlC);   // both heads read it: normalise once
        return (HeadLogits(f) + _headDetail!.call(x_NlC, f, _cfg.PatchNums[si])).MoveToOuterDisposeScope();
    }

    /// <summary>Whether scale si's logits include the <see cref="DetailHead"/>.</summary>
    public bool HasDetailHeadAt(int si) => _headDetail is not null && si >= _cfg.DetailHeadFromScale;

    /// <summary>The detail head's own logits [N,l,V] for scale si from its input tokens and the last block's hidden state.</summary>
    public Tensor DetailLogits(Tensor x_NlC, Tensor h_NlC, int si)
    {
        if (!HasDetailHeadAt(si)) throw new InvalidOperationException($"This STAR model has no detail head at scale {si} (StarConfig.DetailHeadFromScale {_cfg.DetailHeadFromScale}).");
        using var scope = NewDisposeScope();
        return _headDetail!.call(x_NlC, HeadFeatures(h_NlC), _cfg.PatchNums[si]).MoveToOuterDisposeScope();
    }

    /// <summary>get_logits: optional LayerNorm without affine, then head_logits (plus StarStudio's codebook head).</summary>
    public Tensor GetLogits(Tensor h)
    {
        using var scope = NewDisposeScope();
        return HeadLogits(HeadFeatures(h)).MoveToOuterDisposeScope();
    }

    /// <summary>What the heads read: logit_norm(h) (LayerNorm without affine), or h without logit norm.</summary>
    Tensor HeadFeatures(Tensor h) => _cfg.LogitNorm ? _logitNorm!.forward(h) : h;

    /// <summary>head_logits(f) plus StarStudio's codebook head.</summary>
    Tensor HeadLogits(Tensor f)
    {
        var logits = _headLogits.forward(f);
        return _headCodebook is null ? logits : logits + _headCodebook.forward(f);
    }

    /// <summary>
    /// Ties a fresh <see cref="StarConfig.CodebookHead"/> to the VQ-VAE it will be trained with (its codebook copied,
    /// the precision and, given startCode, the predicted residual started). Loaded weights bring their own copy, so only training from scratch calls this.
    /// </summary>
    /// <param name="startCode">The code the fresh head predicts everywhere (the quantiser's plain code).</param>
    public void TieHeadToCodebook(Tensor codebook, long? startCode = null)
    {
        if (_headCodebook is null) throw new InvalidOperationException("This STAR model has a plain head_logits (StarConfig.CodebookHead is 0).");
        _headCodebook.Tie(codebook, startCode);
    }

    // ---------------------------------------------------------------- training / teacher forcing

    public Tensor ForwardTeacherForced(Tensor x_BLCvae_woFirstL, ScaleConditioning cond)
    {
        var (logits, hidden) = Forward(x_BLCvae_woFirstL, RequireText(cond));
        hidden.Dispose();
        return logits;
    }

    /// <summary>
    /// var_drop.VAR.forward: all scales at once with the scale-causal mask (a token sees its own and earlier scales).
    /// x [B, L-first_l, Cvae] (the VQ's teacher-forcing input). Returns logits [B,L,V] and the last block's hidden [B,L,C].
    /// Random token dropping (drop_scale_length) is a training option of the reference left to the trainer.
    /// <paramref name="withDetailHead"/> false leaves StarStudio's detail head out of the logits (the stages that do
    /// not train it need not pay for it).
    /// </summary>
    public (Tensor Logits, Tensor Hidden) Forward(Tensor x_BLCv_wo_first_l, TextConditioning cond, bool withDetailHead = true)
    {
        cond.Validate(_cfg.TextDim);
        long B = x_BLCv_wo_first_l.shape[0];
        if (x_BLCv_wo_first_l.dim() != 3 || x_BLCv_wo_first_l.shape[1] != _L - _firstL || x_BLCv_wo_first_l.shape[2] != _cfg.Cvae)
            throw new ArgumentException($"Teacher-forcing input must be [B, {_L - _firstL}, {_cfg.Cvae}], got [{string.Join(",", x_BLCv_wo_first_l.shape)}].");
        if (cond.Rows != B) throw new ArgumentException($"The conditioning has {cond.Rows} rows, the input {B}.");

        using var scope = NewDisposeScope();
        var sos = _encoderProj.forward(cond.Pooled).unsqueeze(1).expand(B, _firstL, _cfg.Width) + _posStart;
        var x = cat([sos, _wordEmbed.forward(x_BLCv_wo_first_l)], dim: 1);                       // [B, L, C]
        var lp = LevelPos(0, _L);
        if (lp is not null) x = x + lp;
        var attnBias = CausalBias();
        var condLvl = _cfg.SharedAln ? LevelCondition() : null;
        var maskBias = _cfg.EnableCross ? TextMaskBias(cond.AttentionMask) : null;
        var input = x;
        for (int i = 0; i < _cfg.Depth; i++)
            x = _blocks[i].Forward(x, condLvl, attnBias, cond.HiddenStates, maskBias, _ropeCos, _ropeSin,
                scaleSides: _cfg.LocalMixKernel > 0 ? _cfg.PatchNums : null);
        var f = HeadFeatures(x);
        var logits = HeadLogits(f);
        if (_headDetail is not null && withDetailHead)
        {
            // The detail head reads each of its scales as a map of its own: add its logits scale by scale.
            int from = _begin[_cfg.DetailHeadFromScale];
            var detail = Enumerable.Range(_cfg.DetailHeadFromScale, _cfg.NumScales - _cfg.DetailHeadFromScale)
                .Select(si => _headDetail.call(input.narrow(1, _begin[si], _end[si] - _begin[si]), f.narrow(1, _begin[si], _end[si] - _begin[si]), _cfg.PatchNums[si]));
            logits = cat([logits.narrow(1, 0, from), logits.narrow(1, from, _L - from) + cat([.. detail], 1)], 1);
        }
        return (logits.MoveToOuterDisposeScope(), x.MoveToOuterDisposeScope());
    }

    /// <summary>[1,1,L,L]: 0 where the key's scale is not after the query's, -inf elsewhere (attn_bias_for_masking).</summary>
    public Tensor CausalBias()
    {
        return Masks.ScaleCausal(_lvl_1L);
    }

    /// <summary>prepare_attn_mask: [N,T] mask (1 keep, 0 pad) -> additive [N,1,1,T] bias (0 keep, -inf pad).</summary>
    public static Tensor TextMaskBias(Tensor attentionMask_NT)
    {
        using var scope = NewDisposeScope();
        var keep = attentionMask_NT.to_type(ScalarType.Float32) == 1f;
        var bias = Masks.Additive(keep).unsqueeze(1).unsqueeze(1);
        return bias.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Shared AdaLN condition per token [1, L, 6, C]: lvl_embed_adaln(lvl_embed_proj([lvl_embed(level), lvl_embed(last level)])).
    /// </summary>
    Tensor LevelCondition()
    {
        using var scope = NewDisposeScope();
        var lv = _lvlEmbed!.forward(_lvl_1L);
        var last = _lvlEmbed.forward(full_like(_lvl_1L, _cfg.NumScales - 1));
        var proj = _lvlEmbedProj!.forward(cat([lv, last], dim: -1));
        return _lvlEmbedAdaln!.forward(proj).MoveToOuterDisposeScope();
    }

    (Tensor? Cos, Tensor? Sin) RopeSlice(int b, int e) =>
        _ropeCos is null ? (null, null) : (_ropeCos.narrow(0, b, e - b), _ropeSin!.narrow(0, b, e - b));

    // ---------------------------------------------------------------- causal-driven stable sampler head

    /// <summary>
    /// The sampler head's logits for scale si (the w_mask branch of autoregressive_infer_cfg): the pooled text token
    /// encoder_proj2(pooled) + pos_start_last is prepended to both word_embed_head(committed) + lvl_embed_2 and the main
    /// hidden x; head_proj fuses the two, feat_extract_blocks attend over all l+1 tokens, and the first row is dropped.
    /// </summary>
    public Tensor SamplerLogits(Tensor x_NlC, Tensor committed_NlCvae, int si, TextConditioning cond)
    {
        RequireSamplerHead();
        cond.Validate(_cfg.TextDim);
        CheckScale(si, allowZero: true);
        int b = _begin[si], e = _end[si];
        long N = cond.Rows;
        if (x_NlC.dim() != 3 || x_NlC.shape[0] != N || x_NlC.shape[1] != e - b || x_NlC.shape[2] != _cfg.Width)
            throw new ArgumentException($"Sampler hidden must be [{N}, {e - b}, {_cfg.Width}], got [{string.Join(",", x_NlC.shape)}].");
        if (committed_NlCvae.dim() != 3 || committed_NlCvae.shape[0] != N || committed_NlCvae.shape[1] != e - b || committed_NlCvae.shape[2] != _cfg.Cvae)
            throw new ArgumentException($"Committed embeddings must be [{N}, {e - b}, {_cfg.Cvae}], got [{string.Join(",", committed_NlCvae.shape)}].");

        using var scope = NewDisposeScope();
        var textPool = _encoderProj2!.forward(cond.Pooled.unsqueeze(1)) + _posStartLast!;                      // [N, 1, C]
        var cur = cat([textPool, _wordEmbedHead!.forward(committed_NlCvae) + _lvlEmbed2!.forward(_lvl_1L.narrow(1, b, e - b))], dim: 1);
        var prev = cat([textPool, x_NlC], dim: 1);                                                              // [N, 1+l, C]
        var (cos, sin) = SamplerRope(b, e);
        var logits = Sample(cur, prev, null, cos, sin);
        return logits.narrow(1, 1, e - b).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// forward_sampler with the training mask given instead of drawn: the main transformer runs teacher-forced under
    /// no_grad; the sampler head sees every scale from SampleFromIdx on in one sequence (pooled token first), each scale
    /// attending to itself and the pooled token. embed [B, L_tail, Cvae]: ground-truth codebook vectors of those scales;
    /// mask [B, L_tail]: 1 where the token counts as committed (its embedding is shown), 0 where it is hidden.
    /// Returns the sampler logits [B, L_tail, V].
    /// </summary>
    public Tensor ForwardSampler(Tensor x_BLCv_wo_first_l, TextConditioning cond, Tensor embed_BlCvae, Tensor mask_Bl)
    {
        RequireSamplerHead();
        int bg = _begin[_cfg.SampleFromIdx], ed = _L, n = ed - bg;
        long B = x_BLCv_wo_first_l.shape[0];
        if (embed_BlCvae.dim() != 3 || embed_BlCvae.shape[0] != B || embed_BlCvae.shape[1] != n || embed_BlCvae.shape[2] != _cfg.Cvae)
            throw new ArgumentException($"Sampler embeddings must be [{B}, {n}, {_cfg.Cvae}], got [{string.Join(",", embed_BlCvae.shape)}].");
        if (mask_Bl.dim() != 2 || mask_Bl.shape[0] != B || mask_Bl.shape[1] != n)
            throw new ArgumentException($"Sampler mask must be [{B}, {n}], got [{string.Join(",", mask_Bl.shape)}].");

        using var scope = NewDisposeScope();
        Tensor feat;
        using (no_grad())
        {
            var (_, hidden) = Forward(x_BLCv_wo_first_l, cond, withDetailHead: false);
            feat = hidden.narrow(1, bg, n);
        }
        var embed = embed_BlCvae * mask_Bl.to_type(embed_BlCvae.dtype).unsqueeze(-1);
        var textPool = _encoderProj2!.forward(cond.Pooled.unsqueeze(1)) + _posStartLast!;
        var feature = cat([textPool, _wordEmbedHead!.forward(embed) + _lvlEmbed2!.forward(_lvl_1L.narrow(1, bg, n))], dim: 1);
        var prev = cat([textPool, feat], dim: 1);
        var (cos, sin) = SamplerRope(bg, ed);
        var logits = Sample(feature, prev, SamplerTrainingBias(), cos, sin);
        return logits.narrow(1, 1, n).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The reference's attn_mask for forward_sampler, [1,1,n+1,n+1]: tokens attend within their own scale; row 0 and
    /// column 0 (the pooled text token) are open to all.
    /// </summary>
    public Tensor SamplerTrainingBias()
    {
        RequireSamplerHead();
        int bg = _begin[_cfg.SampleFromIdx], n = _L - bg;
        using var scope = NewDisposeScope();
        var lv = _lvl_1L.narrow(1, bg - 1, n + 1).view(n + 1);
        var bias = Masks.Additive(lv.view(n + 1, 1) == lv.view(1, n + 1));
        bias.select(0, 0).fill_(0);
        bias.select(1, 0).fill_(0);
        return bias.view(1, 1, n + 1, n + 1).MoveToOuterDisposeScope();
    }

    /// <summary>RoPE of the pooled token (position of token 0) followed by tokens [b, e).</summary>
    (Tensor? Cos, Tensor? Sin) SamplerRope(int b, int e)
    {
        if (_ropeCos is null) return (null, null);
        return (cat([_ropeCos.narrow(0, 0, 1), _ropeCos.narrow(0, b, e - b)]), cat([_ropeSin!.narrow(0, 0, 1), _ropeSin.narrow(0, b, e - b)]));
    }

    /// <summary>sample(): head_proj([feature, prev_emb]) through feat_extract_blocks, then head_logits2(logit_norm(.)).</summary>
    Tensor Sample(Tensor feature, Tensor prev, Tensor? attnBias, Tensor? cos, Tensor? sin)
    {
        using var scope = NewDisposeScope();
        var f = _headProj!.forward(cat([feature, prev], dim: -1));
        foreach (var blk in _featExtractBlocks!)
            f = blk.Forward(f, null, attnBias, null, null, cos, sin);
        return _headLogits2!.forward(_logitNorm!.forward(f)).MoveToOuterDisposeScope();
    }

    // ---------------------------------------------------------------- initialisation

    /// <summary>
    /// init_weights: truncated-normal Linear/Embedding weights (std; negative = automatic sqrt(1/(3C))), zero biases,
    /// head_logits scaled by initHead, proj and fc2 weights divided by sqrt(2 depth), ada_gss scaled (shared AdaLN).
    /// </summary>
    public void InitWeights(double initAdaln = 0.5, double initAdalnGamma = 1e-5, double initHead = 0.02, double initStd = 0.02)
    {
        if (initStd < 0) initStd = Math.Sqrt(1.0 / _cfg.Width / 3);
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
            _headLogits.weight!.mul_(initHead);
            _headLogits.bias!.zero_();
        }
        // The codebook head likewise starts from (almost) its bias alone: TieHeadToCodebook then sets the residual it
        // predicts everywhere (the plain code) and the precision.
        if (initHead >= 0 && _headCodebook is not null) _headCodebook.state_dict()["proj.weight"].mul_(initHead);
        double div = Math.Sqrt(2.0 * _cfg.Depth);
        foreach (var blk in _blocks)
        {
            blk.Attn.Proj.weight!.div_(div);
            blk.Ffn.Fc2.weight!.div_(div);
            if (blk.AdaGss is { } gss)
            {
                gss.narrow(2, 2, 4).mul_(initAdaln);
                gss.narrow(2, 0, 2).mul_(initAdalnGamma);
            }
        }
    }

    // ---------------------------------------------------------------- checks

    TextConditioning RequireText(ScaleConditioning cond)
    {
        if (cond is not TextConditioning text)
            throw new ArgumentException($"STAR is conditioned on text; got {cond.GetType().Name}.", nameof(cond));
        text.Validate(_cfg.TextDim);
        return text;
    }

    void RequireSamplerHead()
    {
        if (!_cfg.StableSamplerHead) throw new InvalidOperationException("This STAR model was built without the stable sampler head (StarConfig.StableSamplerHead).");
    }

    void CheckScale(int si, bool allowZero)
    {
        if (si < (allowZero ? 0 : 1) || si >= _cfg.NumScales)
            throw new ArgumentOutOfRangeException(nameof(si), si, $"Scale index must lie in [{(allowZero ? 0 : 1)}, {_cfg.NumScales - 1}].");
    }
}
