using StarStudio.Model.Imaging;

namespace StarStudio.Model.Generation;

/// <summary>Milliseconds spent on one scale.</summary>
/// <param name="TransformerMs">Transformer blocks and logits.</param>
/// <param name="SamplingMs">Guidance, filtering, sampling and the VQ update of f_hat.</param>
/// <param name="DecodeMs">Decoding the preview image (0 when previews are off).</param>
/// <param name="ElapsedMs">Since the request started, this scale included.</param>
public sealed record ScaleTimings(double TransformerMs, double SamplingMs, double DecodeMs, double ElapsedMs);

/// <summary>
/// What the pipeline yields as soon as a scale is done: plain data only, safe to hand to other threads.
/// </summary>
/// <param name="ScaleIndex">0-based scale index si.</param>
/// <param name="ScaleCount">Number of scales in the schedule.</param>
/// <param name="Side">Side pn of this scale's token map.</param>
/// <param name="Tokens">Per row: pn*pn codebook ids, row-major.</param>
/// <param name="Confidence">Per row: probability of each chosen token under the sampling distribution.</param>
/// <param name="Images">Per row: the image decoded from everything so far (null when previews are off, except at the last scale).</param>
/// <param name="Timings">Where the time went.</param>
/// <param name="Notices">Messages for the user (prompt truncated, unknown words); on the first frame only.</param>
public sealed record ScaleFrame(
    int ScaleIndex,
    int ScaleCount,
    int Side,
    IReadOnlyList<int[]> Tokens,
    IReadOnlyList<float[]> Confidence,
    IReadOnlyList<RgbImage>? Images,
    ScaleTimings Timings,
    IReadOnlyList<string> Notices)
{
    public bool IsLast => ScaleIndex == ScaleCount - 1;
}
