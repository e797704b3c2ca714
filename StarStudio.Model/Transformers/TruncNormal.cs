// PyTorch's torch.nn.init.trunc_normal_ (inverse-CDF method), used by VAR/STAR init_weights.
using static TorchSharp.torch;

namespace StarStudio.Model.Transformers;

/// <summary>
/// Truncated normal initialisation, written out because TorchSharp 0.107's <c>nn.init.trunc_normal_</c> fills the
/// tensor with the constant <c>std</c> (measured: every entry 0.05 for std 0.05). With it every row of every Linear
/// was the same, so a fresh transformer's channels were identical and no gradient reached any weight but the output
/// bias: the first two shapes models learned only the token frequencies.
/// </summary>
public static class TruncNormal
{
    /// <summary>Fills <paramref name="t"/> in place with N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch).</summary>
    public static Tensor Fill_(Tensor t, double std, double mean = 0, double a = -2, double b = 2)
    {
        if (!(std > 0)) throw new ArgumentException($"std must be positive, got {std}.");
        if (!(a < b)) throw new ArgumentException($"The bounds must satisfy a < b, got [{a}, {b}].");
        using var _ = no_grad();
        using var bounds = tensor(new[] { (a - mean) / std / Math.Sqrt(2), (b - mean) / std / Math.Sqrt(2) }, ScalarType.Float64);
        using var erf = special.erf(bounds);
        double lo = erf[0].item<double>(), hi = erf[1].item<double>();   // 2 * Phi(x) - 1 at both bounds
        t.uniform_(lo, hi);
        t.erfinv_();
        t.mul_(std * Math.Sqrt(2));
        t.add_(mean);
        t.clamp_(a, b);
        return t;
    }
}
