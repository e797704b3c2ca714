// Hyper-parameters of the STAR transformer, following STAR-T2I models/__init__.py (build_vae_var),
// models/var_drop.py (VAR.__init__), configs/*.json, sample.py and demo_gradio.py.
namespace StarStudio.Model.Transformers;

/// <summary>The official scale schedules (side lengths of the token maps, one per scale).</summary>
public static class PatchSchedules
{
    /// <summary>256 px: 10 scales, 680 tokens (VAR and STAR).</summary>
    public static readonly IReadOnlyList<int> Px256 = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];
    /// <summary>512 px: 10 scales, 2240 tokens (VAR d36, STAR configs/config_d30_512.json).</summary>
    public static readonly IReadOnlyList<int> Px512 = [1, 2, 3, 4, 6, 9, 13, 18, 24, 32];
    /// <summary>1024 px: 14 scales, 9451 tokens (STAR configs/config_d30_1024.json, demo_gradio.py).</summary>
    public static readonly IReadOnlyList<int> Px1024 = [1, 2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 48, 64];

    /// <summary>The schedule of an image side of 256, 512 or 1024 pixels (VAR utils/arg_util.py names them so).</summary>
    public static IReadOnlyList<int> ForResolution(int pixels) => pixels switch
    {
        256 => Px256,
        512 => Px512,
        1024 => Px1024,
        _ => throw new ArgumentException($"No official scale schedule for {pixels} px (256, 512 or 1024).", nameof(pixels)),
    };

    /// <summary>Total tokens over all scales (L = sum of pn^2).</summary>
    public static int TotalTokens(IReadOnlyList<int> patchNums) => patchNums.Sum(pn => pn * pn);
}

/// <summary>
/// STAR (text-to-image) transformer configuration. Defaults are the released STAR models' values
/// (configs/*.json, sample.py, demo_gradio.py); where the Python constructor's own default differs, the comment says so.
/// </summary>
public sealed record StarConfig
{
    int? _width;
    int? _heads;

    /// <summary>Number of transformer blocks (configs: 16 or 30).</summary>
    public int Depth { get; init; } = 16;
    /// <summary>Embedding width C; build_vae_var uses 64 * depth.</summary>
    public int Width { get => _width ?? 64 * Depth; init => _width = value; }
    /// <summary>Attention heads; build_vae_var uses depth (so head dim 64).</summary>
    public int Heads { get => _heads ?? Depth; init => _heads = value; }
    /// <summary>FFN hidden width = round(Width * MlpRatio); 4 everywhere.</summary>
    public double MlpRatio { get; init; } = 4.0;
    /// <summary>LayerNorm eps; build_vae_var passes 1e-6.</summary>
    public double NormEps { get; init; } = 1e-6;
    /// <summary>L2-normalised q/k with a learned per-head scale (configs "anorm": true; build_vae_var default True).</summary>
    public bool AttnL2Norm { get; init; } = true;
    /// <summary>VAR's and STAR's starting attention temperature with <see cref="AttnL2Norm"/>: scale_mul_1H11 = log 4.</summary>
    public const double ReferenceAttnScaleInit = 4.0;
    /// <summary>
    /// StarStudio's option for training from scratch (a loaded checkpoint brings its own scale_mul_1H11): the starting
    /// value of exp(scale_mul_1H11), the factor on the cosine similarities of l2-normalised attention (capped at 100).
    /// The reference starts every head at 4, so no weight can exceed e^8 times another's; with a few thousand steps at
    /// lr 1e-3 the learned value barely moves (the shipped shapes-star ended at 3.7..8.6 after 2400 steps),
    /// and attention stays too diffuse to read a token's neighbours (docs/MODEL_CARD.md).
    /// </summary>
    public double AttnScaleInit { get; init; } = ReferenceAttnScaleInit;
    /// <summary>
    /// StarStudio's option, off (0) in every released model: every main block's FFN (not the sampler head's) first mixes
    /// each scale's token map with a depthwise k x k conv (FFN.local_mix, started at zero), so fc1 sees a token's
    /// neighbours of its own scale. In the reference a token sees its neighbours only through attention; on ShapesWorld
    /// a 4-layer conv net reading the same coarse context predicts twice as many of the 16x16 detail codes as the
    /// shipped transformer (docs/MODEL_CARD.md).
    /// </summary>
    public int LocalMixKernel { get; init; }
    /// <summary>
    /// StarStudio's option, off (0) in every released model: with K &gt; 0, a <see cref="Transformers.CodebookHead"/> of
    /// K components adds its logits to head_logits's: it predicts residuals in the VQ-VAE's codebook space and scores
    /// each code by its distance to them (a frozen copy of the codebook is saved with the weights as
    /// head_codebook.codebook), while head_logits keeps what a Gaussian learns slowly: the codes' frequencies and
    /// several modes. On ShapesWorld a conv probe with the codebook head alone learns the 16x16 codes faster than one
    /// with a row per code (docs/MODEL_CARD.md).
    /// </summary>
    public int CodebookHead { get; init; }
    /// <summary>
    /// StarStudio's option, off (0) in every released model: from this scale index on (1..S-1), a
    /// <see cref="Transformers.DetailHead"/> (a small conv net over each scale's map of input embeddings and head
    /// features, weights head_detail.*) adds its logits to head_logits's. On ShapesWorld a conv net reading the 16x16
    /// scale's coarse context guesses its detail codes well enough to pass ShapesEval on 43% of held-out truths,
    /// against 18% for the transformer (docs/MODEL_CARD.md). `starstudio train detail` trains it on a frozen transformer.
    /// </summary>
    public int DetailHeadFromScale { get; init; }
    /// <summary>Channels of the detail head's hidden 3x3 convs.</summary>
    public int DetailHeadWidth { get; init; } = 128;
    /// <summary>3x3 convs of the detail head, each followed by GELU (a 1x1 conv then gives the logits).</summary>
    public int DetailHeadLayers { get; init; } = 4;
    /// <summary>Cross-attention to the text in every block (configs "enable_cross": true, except the d16 ablation).</summary>
    public bool EnableCross { get; init; } = true;
    /// <summary>Text hidden size = in_dim_cross (1024: the OpenCLIP ViT-H/14 text tower); also the pooled size.</summary>
    public int TextDim { get; init; } = 1024;
    /// <summary>Scale schedule; 256 px by default.</summary>
    public IReadOnlyList<int> PatchNums { get; init; } = PatchSchedules.Px256;
    /// <summary>2D RoPE in self-attention instead of absolute pos_1LC (configs "rope_emb": true).</summary>
    public bool RotaryPosEmb { get; init; } = true;
    /// <summary>Additive level embedding lvl_embed per scale (configs "lvl_emb": true).</summary>
    public bool AbsoluteLevelEmb { get; init; } = true;
    /// <summary>
    /// StarStudio's option, off in every released model: keep VAR's learned absolute position table pos_1LC even when
    /// RoPE is on. RoPE only tells a token where the tokens it attends to lie relative to it; over a flat background
    /// every coarser token carries the same value, so a token learns where it is only through the 1x1 token's
    /// attention weight. "top left" and the 3x3 grid of ShapesWorld are absolute positions (docs/MODEL_CARD.md).
    /// </summary>
    public bool AbsolutePosEmb { get; init; }
    /// <summary>RoPE base. Released models: 10000 (configs, sample.py, demo); VAR.__init__ and build_vae_var default to 100.</summary>
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>
    /// Every scale's positions are rescaled to [0, RopeNorm]. Released models: 64 (configs, demo); the Python default is 32.
    /// Null leaves positions as integer indices (the reference's normalize=-1).
    /// </summary>
    public double? RopeNorm { get; init; } = 64.0;
    /// <summary>LayerNorm (no affine) before head_logits (configs "logit_norm": true).</summary>
    public bool LogitNorm { get; init; } = true;
    /// <summary>
    /// The causal-driven stable sampler head (enable_adaptive_norm): word_embed_head, feat_extract_blocks, head_logits2...
    /// Only the "sampler" checkpoints have it (demo_gradio.py: True); sample.py and train.py build without it.
    /// build_vae_var defaults to True; we default to False because the plain checkpoints lack these keys.
    /// </summary>
    public bool StableSamplerHead { get; init; }
    /// <summary>First scale index the sampler head works on (sample_from_idx = 9 everywhere).</summary>
    public int SampleFromIdx { get; init; } = 9;
    /// <summary>Blocks of the sampler head (encoder_depth = 3 in VAR.__init__).</summary>
    public int SamplerDepth { get; init; } = 3;
    /// <summary>VQ-VAE latent channels (32).</summary>
    public int Cvae { get; init; } = 32;
    /// <summary>VQ-VAE codebook size V (4096).</summary>
    public int VocabSize { get; init; } = 4096;
    /// <summary>Shared AdaLN over levels (configs "saln": false; never used by released STAR models).</summary>
    public bool SharedAln { get; init; }
    /// <summary>class_emb rows - 1. STAR never reads class_emb but the checkpoints carry it as [1001, C].</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>
    /// The reference adds cross_attn(...)[0] + x: sample 0's cross-attention output is broadcast to the whole batch
    /// (including CFG's unconditional half). True reproduces the official weights' behaviour at batch 1; false (default)
    /// is per-sample cross-attention. Never enable it for a batch mixing different users' prompts.
    /// </summary>
    public bool CrossAttentionBatchQuirk { get; init; }

    public int HeadDim => Width / Heads;
    public int NumScales => PatchNums.Count;
    /// <summary>Total tokens L over all scales.</summary>
    public int TotalTokens => PatchSchedules.TotalTokens(PatchNums);
    /// <summary>FFN hidden width (round(C * mlp_ratio) as the reference, banker's rounding like Python's round).</summary>
    public int MlpHidden => (int)Math.Round(Width * MlpRatio, MidpointRounding.ToEven);

    /// <summary>Throws ArgumentException when the configuration cannot build a model.</summary>
    public void Validate()
    {
        if (Depth < 1) throw new ArgumentException($"Depth must be >= 1, got {Depth}.");
        if (Width < 1 || Heads < 1 || Width % Heads != 0) throw new ArgumentException($"Width {Width} must be a positive multiple of Heads {Heads}.");
        if (RotaryPosEmb && HeadDim % 4 != 0) throw new ArgumentException($"2D RoPE needs a head dim divisible by 4, got {HeadDim}.");
        if (PatchNums.Count == 0 || PatchNums.Any(pn => pn < 1)) throw new ArgumentException("PatchNums must be a non-empty list of positive sizes.");
        if (Cvae < 1 || VocabSize < 1 || TextDim < 1 || NumClasses < 0) throw new ArgumentException("Cvae, VocabSize and TextDim must be positive.");
        if (StableSamplerHead && (SampleFromIdx < 1 || SampleFromIdx >= PatchNums.Count))
            throw new ArgumentException($"SampleFromIdx {SampleFromIdx} must lie in [1, {PatchNums.Count - 1}] when the sampler head is on.");
        if (StableSamplerHead && SamplerDepth < 1) throw new ArgumentException("SamplerDepth must be >= 1.");
        if (!(AttnScaleInit > 0 && AttnScaleInit <= 100))
            throw new ArgumentException($"AttnScaleInit must lie in (0, 100] (exp(scale_mul) is capped at 100), got {AttnScaleInit}.");
        if (CodebookHead < 0 || CodebookHead > Transformers.CodebookHead.MaxComponents)
            throw new ArgumentException($"CodebookHead must be 0 (off, the reference's head_logits) or 1..{Transformers.CodebookHead.MaxComponents} components, got {CodebookHead}.");
        if (DetailHeadFromScale < 0 || DetailHeadFromScale >= PatchNums.Count)
            throw new ArgumentException($"DetailHeadFromScale must be 0 (off) or a scale index 1..{PatchNums.Count - 1}, got {DetailHeadFromScale}.");
        if (DetailHeadWidth < 1 || DetailHeadWidth > 1024) throw new ArgumentException($"DetailHeadWidth must lie in 1..1024, got {DetailHeadWidth}.");
        if (DetailHeadLayers < 1 || DetailHeadLayers > 16) throw new ArgumentException($"DetailHeadLayers must lie in 1..16, got {DetailHeadLayers}.");
        if (LocalMixKernel < 0 || (LocalMixKernel > 0 && (LocalMixKernel % 2 == 0 || LocalMixKernel > 15)))
            throw new ArgumentException($"LocalMixKernel must be 0 (off) or an odd size up to 15, got {LocalMixKernel}.");
    }

    /// <summary>
    /// A released STAR configuration: depth 16 or 30 at 256, 512 or 1024 px; rope_theta 10000, rope_norm 64, logit norm on,
    /// l2-normalised attention, CLIP text (1024). samplerHead: the "sampler" checkpoints' extra head (demo_gradio.py).
    /// </summary>
    public static StarConfig Official(int depth, int resolution, bool samplerHead = false)
    {
        if (depth is not (16 or 30)) throw new ArgumentException($"STAR is released at depth 16 or 30, not {depth}.", nameof(depth));
        return new StarConfig
        {
            Depth = depth,
            PatchNums = PatchSchedules.ForResolution(resolution),
            StableSamplerHead = samplerHead,
        };
    }

    public static StarConfig D16(int resolution = 256, bool samplerHead = false) => Official(16, resolution, samplerHead);
    public static StarConfig D30(int resolution = 256, bool samplerHead = false) => Official(30, resolution, samplerHead);
}
