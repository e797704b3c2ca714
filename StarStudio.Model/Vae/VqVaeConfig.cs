// Hyperparameters of the multi-scale VQ-VAE; follows VAR models/vqvae.py (VQVAE.__init__) and the
// vq-f16 ddconfig it hard-codes. Defaults are those of the official file vae_ch160v4096z32.pth.
namespace StarStudio.Model.Vae;

/// <summary>
/// Configuration of <see cref="VQVAE"/>. The defaults (<see cref="Official"/>) build the module whose state dict is
/// the published VAR/STAR tokenizer: V 4096, Cvae 32, ch 160, ch_mult (1,1,2,2,4), 16x downsampling.
/// </summary>
public sealed record VqVaeConfig
{
    /// <summary>V: codebook entries.</summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>Cvae (z_channels): width of the latent and of each codebook vector.</summary>
    public int Cvae { get; init; } = 32;

    /// <summary>Base channel count of encoder and decoder.</summary>
    public int Ch { get; init; } = 160;

    /// <summary>Channel multiplier per resolution level; one level fewer than entries downsamples by 2.</summary>
    public IReadOnlyList<int> ChMult { get; init; } = [1, 1, 2, 2, 4];

    public int NumResBlocks { get; init; } = 2;

    public double Dropout { get; init; }

    /// <summary>Commitment loss weight of the training forward.</summary>
    public double Beta { get; init; } = 0.25;

    /// <summary>Nearest neighbour by cosine similarity instead of L2 distance (off in the official VAE).</summary>
    public bool UsingZNorm { get; init; }

    /// <summary>Kernel size of quant_conv / post_quant_conv.</summary>
    public int QuantConvKs { get; init; } = 3;

    /// <summary>Phi(x) = quant_resi*conv(x) + (1-quant_resi)*x; |value| at most 1e-6 means no Phi at all (identity).</summary>
    public double QuantResi { get; init; } = 0.5;

    /// <summary>0: one Phi per scale; 1: one Phi for all scales; K &gt; 1: K partially shared Phis.</summary>
    public int ShareQuantResi { get; init; } = 4;

    /// <summary>Number of Phis when <see cref="ShareQuantResi"/> is 0; 0 means one per scale.</summary>
    public int DefaultQResiCounts { get; init; }

    /// <summary>Side of each scale's token map, small to large; the last equals the latent side (image side / downsample).</summary>
    public IReadOnlyList<int> VPatchNums { get; init; } = PatchNums256;

    /// <summary>Inference only: the module is put in eval mode and its parameters stop requiring gradients.</summary>
    public bool TestMode { get; init; } = true;

    /// <summary>
    /// GroupNorm groups of every Normalize. The reference always uses 32, so every channel count must be a multiple
    /// of 32; tiny test configs may lower it. 0 is StarStudio's option for flat-coloured pictures: no normalisation.
    /// GroupNorm subtracts each picture's own mean over its group's channels and pixels, which on a picture that is
    /// mostly one flat colour removes that colour: our shapes VQ-VAE plateaued for hundreds of steps at the error of
    /// a per-picture mean colour with it, and learned the colours at once without it (docs/MODEL_CARD.md).
    /// </summary>
    public int NormGroups { get; init; } = 32;

    /// <summary>
    /// StarStudio's option, never in official files (0 = the reference's plain nearest code): how much nearer, in
    /// squared L2 distance, another code must be than the codebook's smallest vector to be picked. Residual
    /// quantisation over flat areas leaves small residuals that differ a little from place to place and picture to
    /// picture; with many codes near zero the plain nearest code turns that into token noise no transformer can
    /// predict. The bias snaps those residuals to the one "add almost nothing" code, a rate penalty in the spirit of
    /// entropy-constrained VQ, and leaves the large residuals of objects alone. Only image-to-token quantisation
    /// (training data, the tokenizer ceiling) reads it; decoding tokens does not.
    /// </summary>
    public double PreferredCodeBias { get; init; }

    /// <summary>Self-attention blocks at the lowest resolution level (using_sa) and in the middle block (using_mid_sa).</summary>
    public bool UsingSa { get; init; } = true;
    public bool UsingMidSa { get; init; } = true;

    /// <summary>Image channels.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Pixels per latent cell along one side: 2^(len(ch_mult)-1).</summary>
    public int DownsampleFactor => 1 << (ChMult.Count - 1);

    /// <summary>Latent side of the largest scale (the f_hat side).</summary>
    public int LatentSide => VPatchNums[^1];

    /// <summary>Image side the patch schedule is made for.</summary>
    public int ImageSide => LatentSide * DownsampleFactor;

    /// <summary>Number of scales (SN).</summary>
    public int NumScales => VPatchNums.Count;

    /// <summary>Tokens over all scales (L).</summary>
    public int TotalTokens => VPatchNums.Sum(pn => pn * pn);

    /// <summary>Scale schedules of the released models (STAR demo / sample.py, VAR).</summary>
    public static readonly IReadOnlyList<int> PatchNums256 = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];
    public static readonly IReadOnlyList<int> PatchNums512 = [1, 2, 3, 4, 6, 9, 13, 18, 24, 32];
    public static readonly IReadOnlyList<int> PatchNums1024 = [1, 2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 48, 64];

    /// <summary>The official VAE (vae_ch160v4096z32.pth) with the 256 px schedule.</summary>
    public static VqVaeConfig Official => new();

    /// <summary>The official VAE with the released schedule for a 256, 512 or 1024 px image.</summary>
    public static VqVaeConfig OfficialFor(int imageSide) => imageSide switch
    {
        256 => Official,
        512 => Official with { VPatchNums = PatchNums512 },
        1024 => Official with { VPatchNums = PatchNums1024 },
        _ => throw new ArgumentOutOfRangeException(nameof(imageSide), imageSide, "Released schedules exist for 256, 512 and 1024 px."),
    };

    /// <summary>Channel count at each resolution level (ch * ch_mult[i]).</summary>
    public IEnumerable<int> LevelChannels => ChMult.Select(m => Ch * m);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent setting.</summary>
    public void Validate()
    {
        if (VocabSize < 1) throw new ArgumentException($"VocabSize must be positive, got {VocabSize}.");
        if (Cvae < 1) throw new ArgumentException($"Cvae must be positive, got {Cvae}.");
        if (Ch < 1) throw new ArgumentException($"Ch must be positive, got {Ch}.");
        if (ChMult.Count < 1 || ChMult.Any(m => m < 1)) throw new ArgumentException($"ChMult must be non-empty and positive, got ({string.Join(",", ChMult)}).");
        if (NumResBlocks < 1) throw new ArgumentException($"NumResBlocks must be positive, got {NumResBlocks}.");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"Dropout must be in [0, 1), got {Dropout}.");
        if (QuantConvKs < 1 || QuantConvKs % 2 == 0) throw new ArgumentException($"QuantConvKs must be odd, got {QuantConvKs}.");
        if (ShareQuantResi < 0) throw new ArgumentException($"ShareQuantResi must be >= 0, got {ShareQuantResi}.");
        if (DefaultQResiCounts < 0) throw new ArgumentException($"DefaultQResiCounts must be >= 0, got {DefaultQResiCounts}.");
        if (InChannels < 1) throw new ArgumentException($"InChannels must be positive, got {InChannels}.");
        if (VPatchNums.Count < 1 || VPatchNums.Any(pn => pn < 1))
            throw new ArgumentException($"VPatchNums must be non-empty and positive, got ({string.Join(",", VPatchNums)}).");
        for (int i = 1; i < VPatchNums.Count; i++)
            if (VPatchNums[i] <= VPatchNums[i - 1])
                throw new ArgumentException($"VPatchNums must increase, got ({string.Join(",", VPatchNums)}).");
        if (!(PreferredCodeBias >= 0) || double.IsInfinity(PreferredCodeBias))
            throw new ArgumentException($"PreferredCodeBias must be a finite number >= 0, got {PreferredCodeBias}.");
        if (NormGroups < 0) throw new ArgumentException($"NormGroups must be 0 (no normalisation) or positive, got {NormGroups}.");
        foreach (int c in LevelChannels)
            if (NormGroups > 0 && c % NormGroups != 0)
                throw new ArgumentException($"GroupNorm needs channels divisible by NormGroups={NormGroups}, but a level has {c} channels (Ch={Ch}, ChMult=({string.Join(",", ChMult)})). Lower NormGroups for tiny configs.");
    }

    public bool Equals(VqVaeConfig? other) =>
        other is not null
        && VocabSize == other.VocabSize && Cvae == other.Cvae && Ch == other.Ch && ChMult.SequenceEqual(other.ChMult)
        && NumResBlocks == other.NumResBlocks && Dropout.Equals(other.Dropout) && Beta.Equals(other.Beta)
        && UsingZNorm == other.UsingZNorm && QuantConvKs == other.QuantConvKs && QuantResi.Equals(other.QuantResi)
        && ShareQuantResi == other.ShareQuantResi && DefaultQResiCounts == other.DefaultQResiCounts
        && VPatchNums.SequenceEqual(other.VPatchNums) && TestMode == other.TestMode && NormGroups == other.NormGroups
        && UsingSa == other.UsingSa && UsingMidSa == other.UsingMidSa && InChannels == other.InChannels
        && PreferredCodeBias.Equals(other.PreferredCodeBias);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(VocabSize); h.Add(Cvae); h.Add(Ch); h.Add(NumResBlocks); h.Add(QuantResi); h.Add(ShareQuantResi);
        foreach (int m in ChMult) h.Add(m);
        foreach (int pn in VPatchNums) h.Add(pn);
        return h.ToHashCode();
    }

    // Records print lists as their type name; spell them out so logs show the real schedule.
    private bool PrintMembers(System.Text.StringBuilder sb)
    {
        sb.Append($"VocabSize = {VocabSize}, Cvae = {Cvae}, Ch = {Ch}, ChMult = ({string.Join(",", ChMult)}), NumResBlocks = {NumResBlocks}, ");
        sb.Append($"Dropout = {Dropout}, Beta = {Beta}, UsingZNorm = {UsingZNorm}, QuantConvKs = {QuantConvKs}, QuantResi = {QuantResi}, ");
        sb.Append($"ShareQuantResi = {ShareQuantResi}, DefaultQResiCounts = {DefaultQResiCounts}, VPatchNums = ({string.Join(",", VPatchNums)}), ");
        sb.Append($"TestMode = {TestMode}, NormGroups = {NormGroups}, UsingSa = {UsingSa}, UsingMidSa = {UsingMidSa}, InChannels = {InChannels}, PreferredCodeBias = {PreferredCodeBias}");
        return true;
    }
}
