// Classifier-free guidance as in VAR/STAR autoregressive_infer_cfg: the weight ramps linearly over scales.
using static TorchSharp.torch;

namespace StarStudio.Model.Sampling;

public static class GuidanceSchedule
{
    /// <summary>t = cfg * si / (S - 1): scale 0 is unguided, the last scale gets the full weight.</summary>
    public static double WeightAt(double cfg, int scaleIndex, int scaleCount) =>
        scaleCount <= 1 ? cfg : cfg * scaleIndex / (scaleCount - 1);

    /// <summary>
    /// logits = (1 + t) cond - t uncond, where the first B rows are conditional and the last B unconditional.
    /// With guidance off (rows == B) the logits pass through unchanged: no doubled batch, half the compute.
    /// </summary>
    public static Tensor Combine(Tensor logits_NlV, double t, long B)
    {
        long N = logits_NlV.shape[0];
        if (N == B) return logits_NlV;
        if (N != 2 * B) throw new ArgumentException($"Guided logits need 2B = {2 * B} rows, got {N}.");
        using var cond = logits_NlV.narrow(0, 0, B);
        using var uncond = logits_NlV.narrow(0, B, B);
        return cond.mul(1 + t).sub_(uncond.mul(t));
    }
}
