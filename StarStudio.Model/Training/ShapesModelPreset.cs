// StarStudio's own design (no reference file): the sizes of the embedded ShapesWorld model and of a tiny twin for tests.
using StarStudio.Model.Presets;
using StarStudio.Model.Shapes;
using StarStudio.Model.Text;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;

namespace StarStudio.Model.Training;

/// <summary>
/// Everything that fixes the architecture of a ShapesWorld STAR model: VQ-VAE, transformer and word text encoder.
/// The default (<see cref="Shapes"/>) is the shipped model: 64x64 images, 4x downsampling to a 16x16 latent, eight
/// scales (1,2,3,4,6,8,12,16: 530 tokens), 256 codes of 8 channels, a width-128 depth-4 transformer.
/// </summary>
public sealed record ShapesModelPreset
{
    public required string Name { get; init; }
    public required int ImageSize { get; init; }
    public required VqVaeConfig Vae { get; init; }
    public required StarConfig Star { get; init; }
    public required WordTextEncoderConfig Text { get; init; }
    /// <summary>
    /// Jitter of the pictures the STAR and sampler stages train on (ShapesDataset's jitter: 1 = objects move around
    /// their cells' centres, 0 = always at the centre). The VQ-VAE stage always trains on the full play.
    /// </summary>
    public float GeneratorJitter { get; init; } = 1f;
    /// <summary>
    /// Share of the VQ-VAE's training steps that reconstruct from the first k scales only (k uniform in
    /// [<see cref="VaeTruncationMinScales"/>, S - 1]), so partial pyramids decode to legible pictures and the shapes
    /// are carried by coarser scales (VectorQuantizer2.ForwardKeeping). 0: every step uses every scale, as VAR.
    /// </summary>
    public double VaeTruncation { get; init; }
    /// <summary>Fewest scales a truncated VQ-VAE step keeps (1 .. S - 1).</summary>
    public int VaeTruncationMinScales { get; init; } = 1;
    /// <summary>The settings an exported model recommends (model.json "sampling"); null: StarStudio's general defaults.</summary>
    public SamplingDefaults? Sampling { get; init; }

    public static readonly IReadOnlyList<int> ShapesPatchNums = [1, 2, 3, 4, 6, 8, 12, 16];
    public static readonly IReadOnlyList<int> CoarsePatchNums = [1, 2, 3, 4, 6, 8];

    /// <summary>The embedded model (models/shapes-star).</summary>
    public static ShapesModelPreset Shapes { get; } = new()
    {
        Name = "shapes-star",
        ImageSize = 64,
        Vae = new VqVaeConfig
        {
            // NormGroups 0: no GroupNorm, which removes the flat colours these pictures are made of (VqVaeConfig.NormGroups).
            // ChMult of three levels = 4x downsampling: an 8x8 latent draws every shape as a blob (docs/MODEL_CARD.md).
            VocabSize = 256, Cvae = 8, Ch = 16, ChMult = [1, 2, 2], NumResBlocks = 1, NormGroups = 0,
            VPatchNums = ShapesPatchNums, TestMode = false, UsingSa = false, UsingMidSa = false,
            // Tokens over flat areas snap to the smallest code unless another is nearer by 0.04 (squared L2): 68-86% of
            // the tokens of every scale from 2x2 on become that one code, the tokenizer ceiling unchanged
            // (VqVaeConfig.PreferredCodeBias, docs/MODEL_CARD.md). The VQ-VAE itself trains without it.
            PreferredCodeBias = 0.04,
        },
        Star = new StarConfig
        {
            Depth = 4, Width = 128, Heads = 4, TextDim = 128, PatchNums = ShapesPatchNums, Cvae = 8, VocabSize = 256,
            NumClasses = 1, StableSamplerHead = true, SampleFromIdx = 6, SamplerDepth = 1, RopeNorm = 16.0,
        },
        Text = new WordTextEncoderConfig(Dim: 128, Depth: 2, Heads: 4, MaxTokens: 24),
        // ShapesEval on 300 held-out prompts: cfg 8 13.0%; cfg 6 10.7%, with more-smooth 9.3%; cfg 10 10.7%; cfg 4 8.7%
        // (docs/MODEL_CARD.md).
        Sampling = new SamplingDefaults(Cfg: 8.0, TopK: 0, TopP: 0.8),
    };

    /// <summary>
    /// The previous embedded model's design, kept to reproduce its numbers: 8x downsampling to an 8x8 latent, six
    /// scales (1..8, 130 tokens). Its tokenizer caps ShapesEval at 3% (docs/MODEL_CARD.md).
    /// </summary>
    public static ShapesModelPreset Coarse { get; } = Shapes with
    {
        Name = "shapes-coarse",
        Vae = Shapes.Vae with { ChMult = [1, 2, 2, 4], VPatchNums = CoarsePatchNums, PreferredCodeBias = 0 },
        Star = Shapes.Star with { PatchNums = CoarsePatchNums, SampleFromIdx = 4, RopeNorm = 8.0 },
        Sampling = null,
    };

    /// <summary>
    /// The embedded design plus a learned absolute position per token (StarConfig.AbsolutePosEmb) next to RoPE: an
    /// experiment on the "position 0%" and "too many blobs" failures. Trained 2000 steps it had the lower loss but
    /// scored 7.0% at cfg 8 against the shipped model's 13.0% (docs/MODEL_CARD.md), so it is not the default.
    /// </summary>
    public static ShapesModelPreset ShapesAbsPos { get; } = Shapes with
    {
        Name = "shapes-abspos",
        Star = Shapes.Star with { AbsolutePosEmb = true },
    };

    /// <summary>
    /// The embedded design with the generator trained on centred objects (GeneratorJitter 0): with sub-pixel offsets
    /// an object's finest tokens vary from picture to picture (63.5% of the 16x16 detail tokens change). Trained 2000
    /// steps it scored 6.0% at cfg 8 against the shipped model's 13.0%, and its 16x16 detail accuracy did not improve
    /// (docs/MODEL_CARD.md), so it stays an experiment.
    /// </summary>
    public static ShapesModelPreset ShapesCentred { get; } = Shapes with
    {
        Name = "shapes-centred",
        GeneratorJitter = 0f,
    };

    /// <summary>
    /// The embedded design with the stable-sampler head from the 3x3 scale on (SampleFromIdx 2 instead of 6): the 3x3
    /// scale's nine tokens are the grid's nine cells, and drawn independently they put the asked-for object into too
    /// many of them (94% of the pictures at cfg 8, docs/MODEL_CARD.md). The head sees the tokens of its scale already
    /// committed. Same parameters as <see cref="Shapes"/>, so its sampler stage can start from that STAR checkpoint.
    /// Trained 600 steps with PerScale weighting on the shipped STAR it scored 6.0% at cfg 8 and 10.3% at cfg 4
    /// (Standard schedule; 11.3% with V1024) and still drew too many objects (docs/MODEL_CARD.md): an experiment.
    /// </summary>
    public static ShapesModelPreset ShapesLayout { get; } = Shapes with
    {
        Name = "shapes-layout",
        Star = Shapes.Star with { SampleFromIdx = 2 },
    };

    /// <summary>
    /// The embedded design with an ordered tokenizer: half the VQ-VAE's steps reconstruct from the first 5 to 7 scales
    /// only (through 6x6, 8x8 or 12x12). The shipped tokenizer draws shapes only at its last scale (ceiling 17% with
    /// 12x12 kept, 87% with all), and the shipped transformer scores what the pyramid through 8x8 allows (12.3%
    /// against its 13.0%): it adds nothing at the two finest scales. Judge with `eval --tokenizer-ceiling --by-scale`.
    /// Trained 1400 steps, the partial pyramids were no more legible (8x8 11.0%, 12x12 16.7%) and the full ceiling fell
    /// to 59.7% (docs/MODEL_CARD.md): this decoder cannot draw shapes from coarse codes. An experiment.
    /// </summary>
    public static ShapesModelPreset ShapesOrdered { get; } = Shapes with
    {
        Name = "shapes-ordered",
        VaeTruncation = 0.5,
        VaeTruncationMinScales = 5,
    };

    /// <summary>
    /// <see cref="ShapesOrdered"/> with a decoder (and encoder) twice as wide (Ch 32): shapes-ordered's partial pyramids
    /// stayed illegible, which could have been the 16-channel decoder's limit. It was not: trained 1400 steps (42.7 min,
    /// 4x the shipped VQ-VAE's time) the full ceiling is back at 87.3% and the partial pyramids are the right colours
    /// earlier, but still blobs (through 8x8 12.0%, 12x12 19.0%; docs/MODEL_CARD.md). An experiment.
    /// </summary>
    public static ShapesModelPreset ShapesOrderedWide { get; } = ShapesOrdered with
    {
        Name = "shapes-ordered-wide",
        Vae = ShapesOrdered.Vae with { Ch = 32 },
    };

    /// <summary>
    /// The embedded design with sharper attention from the start (StarConfig.AttnScaleInit 24 instead of the
    /// reference's 4): the shipped transformer's learned attention temperatures stayed at 3.7..8.6, while a 4-layer
    /// conv net reading the same coarse context gets twice its 16x16 detail accuracy (docs/MODEL_CARD.md).
    /// </summary>
    public static ShapesModelPreset ShapesSharp { get; } = Shapes with
    {
        Name = "shapes-sharp",
        Star = Shapes.Star with { AttnScaleInit = 24 },
    };

    /// <summary>
    /// The embedded design with each block's FFN also mixing every scale's token map with a depthwise 3x3 conv
    /// (StarConfig.LocalMixKernel): a 4-layer conv net reading the same coarse context as the transformer gets twice
    /// its 16x16 detail accuracy (docs/MODEL_CARD.md).
    /// </summary>
    public static ShapesModelPreset ShapesLocal { get; } = Shapes with
    {
        Name = "shapes-local",
        Star = Shapes.Star with { LocalMixKernel = 3 },
    };

    /// <summary>
    /// The embedded design with the codebook-tied head (StarConfig.CodebookHead): the transformer predicts the residual
    /// in the codebook's space and every code is scored by its distance to it, so codes that draw alike are learned
    /// together (docs/MODEL_CARD.md).
    /// </summary>
    public static ShapesModelPreset ShapesCodebook { get; } = Shapes with
    {
        Name = "shapes-codebook",
        Star = Shapes.Star with { CodebookHead = 1 },
    };

    /// <summary>
    /// The embedded design with a detail head on the 16x16 scale (StarConfig.DetailHeadFromScale 7): a conv net reading
    /// that scale's coarse context and the transformer's features adds its logits to head_logits's. The STAR and sampler
    /// stages are the embedded model's (the head is left out of them); `train detail` trains the head on the frozen
    /// transformer (docs/MODEL_CARD.md).
    /// </summary>
    public static ShapesModelPreset ShapesDetail { get; } = Shapes with
    {
        Name = "shapes-detail",
        Star = Shapes.Star with { DetailHeadFromScale = 7 },
    };

    /// <summary>A few-second twin for tests: 32x32 images, 4 scales, width 32.</summary>
    public static ShapesModelPreset Tiny { get; } = new()
    {
        Name = "shapes-tiny",
        ImageSize = 32,
        Vae = new VqVaeConfig
        {
            VocabSize = 32, Cvae = 4, Ch = 8, ChMult = [1, 1, 2, 2], NumResBlocks = 1, NormGroups = 4,
            VPatchNums = [1, 2, 3, 4], TestMode = false, UsingSa = false, UsingMidSa = false,
        },
        Star = new StarConfig
        {
            Depth = 1, Width = 32, Heads = 2, TextDim = 16, PatchNums = [1, 2, 3, 4], Cvae = 4, VocabSize = 32,
            NumClasses = 1, StableSamplerHead = true, SampleFromIdx = 2, SamplerDepth = 1, RopeNorm = 4.0,
        },
        Text = new WordTextEncoderConfig(Dim: 16, Depth: 1, Heads: 2, MaxTokens: 24),
    };

    /// <summary>
    /// The presets a user can name: the preset, what it is (help texts and errors list it), and older names it answers
    /// to (the first is the one help texts show). Written once here, so `--preset` help, errors and lookups cannot disagree.
    /// </summary>
    static readonly (ShapesModelPreset Preset, string What, string[] Aliases)[] Named =
    [
        // shapes-fine: this design's name while it was experimental (its training folders still say so).
        (Shapes, "the embedded model", ["shapes", "shapes-star", "fine", "shapes-fine"]),
        (ShapesAbsPos, "it with absolute positions", ["shapes-abspos", "abspos"]),
        (ShapesCentred, "its generator trained on centred objects", ["shapes-centred", "centred"]),
        (ShapesLayout, "its stable-sampler head from the 3x3 scale", ["shapes-layout", "layout"]),
        (ShapesOrdered, "its tokenizer trained to draw from partial pyramids", ["shapes-ordered", "ordered"]),
        (ShapesOrderedWide, "that with a decoder twice as wide", ["shapes-ordered-wide", "ordered-wide"]),
        (ShapesSharp, "it with sharper attention from the start", ["shapes-sharp", "sharp"]),
        (ShapesLocal, "it with a local conv in every FFN", ["shapes-local", "local"]),
        (ShapesCodebook, "it with a head tied to the codebook", ["shapes-codebook", "codebook"]),
        (ShapesDetail, "it with a conv detail head on the 16x16 scale", ["shapes-detail", "detail"]),
        (Coarse, "its 8x predecessor", ["shapes-coarse", "coarse"]),
        (Tiny, "a few-second twin for tests", ["tiny", "shapes-tiny"]),
    ];

    /// <summary>"name (what it is), ..." for help texts and errors.</summary>
    public static string Catalogue => string.Join(", ", Named.Select(n => $"{n.Aliases[0]} ({n.What})"));

    public static ShapesModelPreset ByName(string name) =>
        Named.FirstOrDefault(n => n.Aliases.Contains(name)).Preset
        ?? throw new ArgumentException($"Unknown training preset '{name}': {Catalogue}.");

    /// <summary>
    /// This preset, after checking the training options that no config class checks (the VQ-VAE and transformer
    /// configs validate themselves when built): a bad value fails before a stage starts, not at some later step.
    /// </summary>
    public ShapesModelPreset Validated()
    {
        int S = Vae.VPatchNums.Count;
        if (!(VaeTruncation >= 0 && VaeTruncation <= 1))
            throw new ArgumentException($"Preset '{Name}': VaeTruncation is a probability (0..1), got {VaeTruncation}.");
        if (VaeTruncation > 0 && (VaeTruncationMinScales < 1 || VaeTruncationMinScales > S - 1))
            throw new ArgumentException($"Preset '{Name}': VaeTruncationMinScales must be 1..{S - 1} (a truncated step keeps fewer than the {S} scales), got {VaeTruncationMinScales}.");
        if (!(GeneratorJitter >= 0 && GeneratorJitter <= 1))
            throw new ArgumentException($"Preset '{Name}': GeneratorJitter must be 0..1, got {GeneratorJitter}.");
        if (!Star.PatchNums.SequenceEqual(Vae.VPatchNums))
            throw new ArgumentException($"Preset '{Name}': the transformer's scales ({string.Join(",", Star.PatchNums)}) differ from the VQ-VAE's ({string.Join(",", Vae.VPatchNums)}).");
        return this;
    }

    /// <summary>The word tokenizer over everything the caption grammar can say.</summary>
    public static WordTokenizer Tokenizer() => new(ShapesVocabulary.Words);
}
