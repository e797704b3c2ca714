using StarStudio.Model.Sampling;

namespace StarStudio.Model.Generation;

/// <summary>
/// Everything one generation needs besides the model. Rows of the batch come from <see cref="Prompts"/> (STAR) or
/// <see cref="ClassLabels"/> (VAR); row i samples with seed <see cref="SeedFor"/>(i), so a batch gives the same
/// images as running each row alone.
/// </summary>
public sealed record GenerationRequest
{
    /// <summary>STAR: one prompt per batch row; "" is the unconditional prompt.</summary>
    public IReadOnlyList<string> Prompts { get; init; } = [];
    /// <summary>STAR: replaces the empty prompt in the unconditional half of classifier-free guidance.</summary>
    public string? NegativePrompt { get; init; }
    /// <summary>VAR: one ImageNet class per row (0..999); the unconditional label is added internally.</summary>
    public IReadOnlyList<int> ClassLabels { get; init; } = [];
    /// <summary>Seed of row 0; row i uses Seed + i unless <see cref="Seeds"/> is given.</summary>
    public long Seed { get; init; }
    /// <summary>Explicit per-row seeds (overrides Seed).</summary>
    public IReadOnlyList<long>? Seeds { get; init; }
    /// <summary>Guidance weight reached at the last scale (ramps linearly from 0 at scale 0). 0 = guidance-free, half the compute.</summary>
    public double Cfg { get; init; } = 4.0;
    /// <summary>Keep the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Nucleus sampling mass (0 = off).</summary>
    public double TopP { get; init; } = 0.8;
    /// <summary>VAR's Gumbel-softmax mixture of codebook vectors instead of hard samples.</summary>
    public bool MoreSmooth { get; init; }
    /// <summary>STAR's causal-driven stable sampling (w_mask) from the model's sample_from_idx scale on; needs a sampler head.</summary>
    public bool StableSampling { get; init; }
    public StableSamplerVersion StableSamplerVersion { get; init; } = StableSamplerVersion.V1024;
    /// <summary>
    /// Fork: token maps to keep for the first k scales (outer list: scale, inner: row, then pn*pn ids). Those scales are
    /// replayed instead of sampled (the random stream advances exactly as in the original run), finer ones are generated.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<int[]>>? PrefixTokens { get; init; }
    /// <summary>How every scale's preview is made (the last scale is always decoded in full).</summary>
    public PreviewMode Previews { get; init; } = PreviewMode.Auto;

    public int Rows => Prompts.Count > 0 ? Prompts.Count : ClassLabels.Count;

    public long SeedFor(int row) => Seeds is { } s ? s[row] : unchecked(Seed + row) & long.MaxValue;
}
