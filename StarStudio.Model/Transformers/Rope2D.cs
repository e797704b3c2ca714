// Normalised axial 2D RoPE, following STAR-T2I models/embed_rope.py (compute_axial_cis, init_t_xy, apply_rotary_emb).
// Shapes: L tokens of all scales, l tokens of one scale, c head dim; tables are [L, c/2] (one angle per channel pair).
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Transformers;

/// <summary>
/// Per-token rotation angles for every scale, concatenated in scale order. For a pn x pn scale, token t sits at
/// x = t % pn, y = t / pn; both are divided by their maximum (pn - 1) and multiplied by the norm, so every scale spans
/// [0, norm] (a 1x1 scale keeps position 0). Channel pair j &lt; c/4 turns by x * f_j, pair c/4 + j by y * f_j, with
/// f_j = theta^(-4j/c). The reference multiplies adjacent channel pairs as complex numbers by e^(i angle); we use the
/// same arithmetic in real form.
/// </summary>
public sealed class Rope2D : IDisposable
{
    /// <summary>cos of the angles, [L, c/2].</summary>
    public Tensor Cos_Lc { get; }
    /// <summary>sin of the angles, [L, c/2].</summary>
    public Tensor Sin_Lc { get; }
    public int HeadDim { get; }

    Rope2D(Tensor cos, Tensor sin, int headDim)
    {
        Cos_Lc = cos;
        Sin_Lc = sin;
        HeadDim = headDim;
    }

    /// <summary>
    /// The angle table of one pn x pn scale, [pn*pn, headDim/2] float32, computed in the reference's order of float32
    /// operations. norm null keeps integer positions (the reference's normalize=-1).
    /// </summary>
    public static Tensor Angles(int pn, int headDim, double theta, double? norm)
    {
        if (pn < 1) throw new ArgumentException($"Scale side must be >= 1, got {pn}.", nameof(pn));
        if (headDim < 4 || headDim % 4 != 0) throw new ArgumentException($"Head dim must be a positive multiple of 4, got {headDim}.", nameof(headDim));
        using var scope = NewDisposeScope();
        var freqs = torch.pow(theta, arange(0, headDim, 4, dtype: ScalarType.Float32) / (float)headDim).reciprocal(); // [c/4]
        var t = arange(pn * pn, dtype: ScalarType.Float32);
        var tx = t.remainder(pn);
        var ty = t.div(pn, rounding_mode: RoundingMode.floor);
        if (norm is double n && pn * pn > 1)
        {
            // Both maxima are pn - 1; dividing first, then scaling, matches the reference's float32 rounding.
            tx = tx / (float)(pn - 1) * (float)n;
            ty = ty / (float)(pn - 1) * (float)n;
        }
        var angles = cat([outer(tx, freqs), outer(ty, freqs)], dim: -1); // [l, c/2]: x pairs first, then y pairs
        return angles.MoveToOuterDisposeScope();
    }

    /// <summary>Concatenated cos/sin tables for all scales, placed on device.</summary>
    public static Rope2D Build(IReadOnlyList<int> patchNums, int headDim, double theta, double? norm, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var angles = cat(patchNums.Select(pn => Angles(pn, headDim, theta, norm)).ToArray(), dim: 0); // [L, c/2]
        var cos = angles.cos().to(device ?? CPU).DetachFromDisposeScope();
        var sin = angles.sin().to(device ?? CPU).DetachFromDisposeScope();
        return new Rope2D(cos, sin, headDim);
    }

    /// <summary>
    /// Rotates adjacent channel pairs (2j, 2j+1) of x [..., l, c] by the angles whose cos/sin are given as [l, c/2]
    /// (apply_rotary_emb: view_as_complex(x) * freqs_cis, then view_as_real).
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos_lc, Tensor sin_lc)
    {
        long c = x.shape[^1];
        if (c % 2 != 0 || cos_lc.shape[^1] * 2 != c || cos_lc.shape[0] != x.shape[^2])
            throw new ArgumentException($"RoPE table [{string.Join(",", cos_lc.shape)}] does not fit x [{string.Join(",", x.shape)}].");
        using var scope = NewDisposeScope();
        var pairs = x.unflatten(x.dim() - 1, [c / 2, 2]); // TorchSharp rejects a negative dim here
        var re = pairs.select(-1, 0);
        var im = pairs.select(-1, 1);
        var outRe = re * cos_lc - im * sin_lc;
        var outIm = re * sin_lc + im * cos_lc;
        return stack([outRe, outIm], dim: -1).flatten(-2).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Cos_Lc.Dispose();
        Sin_Lc.Dispose();
    }
}
