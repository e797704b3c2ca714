namespace StarStudio.Model.Benchmarks;

/// <summary>The numbers that decide a scale-wise transformer's arithmetic cost.</summary>
/// <param name="Depth">Blocks.</param>
/// <param name="Width">C.</param>
/// <param name="MlpRatio">FFN hidden = round(C * ratio).</param>
/// <param name="VocabSize">V (the logits head).</param>
/// <param name="PatchNums">Scale schedule.</param>
/// <param name="TextTokens">T (0 for class-conditional models: no cross-attention).</param>
/// <param name="TextDim">Width of the text hidden states.</param>
/// <param name="AdaLn">VAR's per-block AdaLN linear (6C from D) per row.</param>
/// <param name="LocalMixKernel">k of the FFN's depthwise k x k local mix (<see cref="Transformers.StarConfig.LocalMixKernel"/>; 0 = none, the reference).</param>
public sealed record TransformerShape(int Depth, int Width, double MlpRatio, int VocabSize, IReadOnlyList<int> PatchNums, int TextTokens, int TextDim, bool AdaLn,
    int LocalMixKernel = 0);

/// <summary>
/// Counts the multiply-adds (x2 = FLOPs) of KV-cached inference, one scale at a time, the way the pipeline runs it.
/// Only matrix products (and the optional depthwise local mix) count: norms, softmax and elementwise work are small beside them.
/// </summary>
public static class TransformerFlops
{
    /// <summary>FLOPs of scale si for N rows (2B with guidance).</summary>
    public static double ForScale(TransformerShape s, int si, int rows)
    {
        double C = s.Width, l = s.PatchNums[si] * (double)s.PatchNums[si], N = rows;
        double context = 0;
        for (int i = 0; i <= si; i++) context += s.PatchNums[i] * (double)s.PatchNums[i];
        double hidden = Math.Round(C * s.MlpRatio);

        double selfAttn = 2 * l * C * 3 * C     // fused qkv
                        + 2 * l * context * C   // q k^T over the cache
                        + 2 * l * context * C   // attention x v
                        + 2 * l * C * C;        // proj
        double cross = 0;
        if (s.TextTokens > 0)
        {
            cross = 2 * l * C * C                                   // q
                  + 2 * l * s.TextTokens * C * 2                    // scores and weighted sum
                  + 2 * l * C * C;                                  // proj
            if (si == 0) cross += 2 * s.TextTokens * s.TextDim * 2 * C; // text k, v: computed once, cached
        }
        double ffn = 2 * l * C * hidden * 2
                   + 2 * l * C * s.LocalMixKernel * s.LocalMixKernel; // depthwise: k^2 multiply-adds per channel per token
        double adaLn = s.AdaLn ? 2 * C * 6 * C : 0;                 // per row, once per scale
        double head = 2 * l * C * s.VocabSize;
        return N * (s.Depth * (selfAttn + cross + ffn + adaLn) + head);
    }

    public static double Total(TransformerShape s, int rows) =>
        Enumerable.Range(0, s.PatchNums.Count).Sum(si => ForScale(s, si, rows));
}
