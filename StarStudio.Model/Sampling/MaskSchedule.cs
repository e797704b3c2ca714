// Follows STAR-T2I utils/mask_utils.py (Scheduler._create_scheduler, mode "arccos").
namespace StarStudio.Model.Sampling;

/// <summary>How many tokens of one scale the stable sampler commits at each of its steps.</summary>
public static class MaskSchedule
{
    /// <summary>
    /// Counts per step for a pn x pn scale: r = linspace(1, 0, steps), weight = arccos(r) / (pi/2), counts are the
    /// rounded weights normalised to pn^2, zeros become 1, and the last step absorbs the rounding so the sum is pn^2.
    /// </summary>
    public static int[] Counts(int steps, int patchSide)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "At least one step is needed.");
        int total = patchSide * patchSide;
        // The reference computes in float32 (torch.linspace / arccos on float tensors); do the same so rounding matches.
        var weights = new float[steps];
        for (int i = 0; i < steps; i++)
        {
            float r = steps == 1 ? 1f : 1f - (float)i / (steps - 1);
            weights[i] = MathF.Acos(r) / (MathF.PI * 0.5f);
        }
        float sum = 0;
        foreach (var w in weights) sum += w;
        var counts = new int[steps];
        for (int i = 0; i < steps; i++)
        {
            counts[i] = sum == 0 ? 0 : (int)MathF.Round(weights[i] / sum * total, MidpointRounding.ToEven);
            if (counts[i] == 0) counts[i] = 1;
        }
        counts[^1] += total - counts.Sum();
        return counts;
    }

    /// <summary>
    /// Steps per scale in STAR's sample_version '1024': 15 steps for scale indices above 12, else 8;
    /// other versions use 8.
    /// </summary>
    public static int StepsFor(int scaleIndex, StableSamplerVersion version) =>
        version == StableSamplerVersion.V1024 && scaleIndex > 12 ? 15 : 8;
}

/// <summary>The reference's sample_version switch for the stable sampler.</summary>
public enum StableSamplerVersion
{
    /// <summary>'1024': the main head commits tokens for the first 5 steps of scales below 13, the sampler head after.</summary>
    V1024,
    /// <summary>Any other value: the sampler head commits every step, 8 steps a scale.</summary>
    Standard,
}
