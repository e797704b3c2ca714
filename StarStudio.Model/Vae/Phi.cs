// The residual refiners Phi of the multi-scale quantiser and the rule that picks one per scale; follows VAR
// models/quant.py (Phi, PhiShared, PhiPartiallyShared, PhiNonShared). Shapes: B batch, C = Cvae, h w latent cells.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Vae;

/// <summary>
/// Phi(h) = (1 - r) * h + r * conv3x3(h), r = |quant_resi|. The reference subclasses nn.Conv2d; TorchSharp's Conv2d
/// is sealed, so this module owns the conv's <c>weight</c> [C, C, 3, 3] and <c>bias</c> [C] itself (same names).
/// </summary>
public sealed class Phi : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private Parameter _weight;
    [ComponentName(Name = "bias")] private Parameter _bias;

    public Phi(long embedDim, double quantResi, Device? device = null) : base(nameof(Phi))
    {
        const int ks = 3;
        ResiRatio = Math.Abs(quantResi);
        _weight = (Parameter)nn.Parameter(empty([embedDim, embedDim, ks, ks], device: device)).DetachFromDisposeScope();
        _bias = (Parameter)nn.Parameter(empty([embedDim], device: device)).DetachFromDisposeScope();
        // nn.Conv2d's default initialisation, so an untrained Phi behaves like the reference's.
        SafeConv2d.InitLikeConv2d(_weight, _bias);
        RegisterComponents();
    }

    /// <summary>r: the share of the conv branch.</summary>
    public double ResiRatio { get; }

    public Parameter Weight => _weight;
    public Parameter Bias => _bias;

    public override Tensor forward(Tensor h_BChw)
    {
        using var conv = SafeConv2d.Conv(h_BChw, _weight, _bias, padding: 1);
        using var kept = h_BChw.mul(1 - ResiRatio);
        return kept.add(conv.mul_(ResiRatio));
    }
}

/// <summary>
/// Holds the Phis and picks one for a scale from its position at = si / (SN - 1) in [0, 1]: the Phi whose tick is
/// nearest (the first on a tie). With K Phis the ticks are linspace(1/(3K), 1 - 1/(3K), K) when K == 4, else
/// linspace(1/(2K), 1 - 1/(2K), K). For SN = 10 and K = 4 this gives Phi 0,0,1,1,1,2,2,3,3,3; two of those
/// (si = 2 and 7) are exact ties in real arithmetic that double rounding decides, so the ticks and distances are
/// computed exactly as numpy does.
/// </summary>
public abstract class PhiSelector : nn.Module
{
    protected PhiSelector(string name) : base(name) { }

    /// <summary>Number of distinct Phis (K).</summary>
    public abstract int Count { get; }

    /// <summary>The k-th Phi (an identity module when quant_resi is 0).</summary>
    public abstract nn.Module<Tensor, Tensor> At(int k);

    /// <summary>Index of the Phi used at position <paramref name="atFrom0To1"/>.</summary>
    public abstract int IndexAt(double atFrom0To1);

    /// <summary>The reference's <c>quant_resi[at]</c>.</summary>
    public nn.Module<Tensor, Tensor> this[double atFrom0To1] => At(IndexAt(atFrom0To1));

    /// <summary>The position si / (SN - 1) of scale si; a single-scale schedule (where the reference divides by zero) uses 0.</summary>
    public static double Position(int si, int SN)
    {
        if (si < 0 || si >= SN) throw new ArgumentOutOfRangeException(nameof(si), si, $"Scale index must be in [0, {SN}).");
        return SN > 1 ? si / (double)(SN - 1) : 0.0;
    }

    /// <summary>The ticks of K Phis, computed as numpy.linspace does (start + i * step, last = stop exactly).</summary>
    public static double[] Ticks(int K)
    {
        if (K < 1) throw new ArgumentOutOfRangeException(nameof(K), K, "Need at least one Phi.");
        double start = K == 4 ? 1.0 / 3 / K : 1.0 / 2 / K;
        double stop = K == 4 ? 1 - 1.0 / 3 / K : 1 - 1.0 / 2 / K;
        var ticks = new double[K];
        if (K == 1) { ticks[0] = start; return ticks; }
        double step = (stop - start) / (K - 1);
        for (int i = 0; i < K; i++) ticks[i] = i * step + start;
        ticks[K - 1] = stop;
        return ticks;
    }

    /// <summary>argmin |ticks - at|, first index on ties (numpy.argmin).</summary>
    public static int NearestTick(IReadOnlyList<double> ticks, double at)
    {
        int best = 0;
        double bestDist = Math.Abs(ticks[0] - at);
        for (int i = 1; i < ticks.Count; i++)
        {
            double d = Math.Abs(ticks[i] - at);
            if (d < bestDist) { best = i; bestDist = d; }
        }
        return best;
    }

    internal static nn.Module<Tensor, Tensor> MakePhi(long cvae, double quantResi, Device? device) =>
        Math.Abs(quantResi) > 1e-6 ? new Phi(cvae, quantResi, device) : nn.Identity();
}

/// <summary>One Phi for every scale (share_quant_resi = 1): <c>quant_resi.qresi.*</c>.</summary>
public sealed class PhiShared : PhiSelector
{
    [ComponentName(Name = "qresi")] private readonly nn.Module<Tensor, Tensor> _qresi;

    public PhiShared(nn.Module<Tensor, Tensor> qresi) : base(nameof(PhiShared))
    {
        _qresi = qresi;
        RegisterComponents();
    }

    public override int Count => 1;
    public override nn.Module<Tensor, Tensor> At(int k) => k == 0 ? _qresi : throw new ArgumentOutOfRangeException(nameof(k));
    public override int IndexAt(double atFrom0To1) => 0;
}

/// <summary>K Phis shared by nearby scales (share_quant_resi = K &gt; 1, the official 4): <c>quant_resi.qresi_ls.{k}.*</c>.</summary>
public sealed class PhiPartiallyShared : PhiSelector
{
    [ComponentName(Name = "qresi_ls")] private readonly ModuleList<nn.Module<Tensor, Tensor>> _qresiLs;
    private readonly double[] _ticks;

    public PhiPartiallyShared(IEnumerable<nn.Module<Tensor, Tensor>> qresiLs) : base(nameof(PhiPartiallyShared))
    {
        _qresiLs = new ModuleList<nn.Module<Tensor, Tensor>>([.. qresiLs]);
        _ticks = Ticks(_qresiLs.Count);
        RegisterComponents();
    }

    public IReadOnlyList<double> TickValues => _ticks;
    public override int Count => _qresiLs.Count;
    public override nn.Module<Tensor, Tensor> At(int k) => _qresiLs[k];
    public override int IndexAt(double atFrom0To1) => NearestTick(_ticks, atFrom0To1);
}

/// <summary>
/// One Phi per scale (share_quant_resi = 0). The reference's class is itself a ModuleList, so its Phis sit directly
/// under <c>quant_resi.{k}.*</c>.
/// </summary>
public sealed class PhiNonShared : PhiSelector
{
    private readonly List<nn.Module<Tensor, Tensor>> _qresi;
    private readonly double[] _ticks;

    public PhiNonShared(IEnumerable<nn.Module<Tensor, Tensor>> qresi) : base(nameof(PhiNonShared))
    {
        _qresi = [.. qresi];
        _ticks = Ticks(_qresi.Count);
        for (int k = 0; k < _qresi.Count; k++) register_module($"{k}", _qresi[k]);
        RegisterComponents();
    }

    public IReadOnlyList<double> TickValues => _ticks;
    public override int Count => _qresi.Count;
    public override nn.Module<Tensor, Tensor> At(int k) => _qresi[k];
    public override int IndexAt(double atFrom0To1) => NearestTick(_ticks, atFrom0To1);
}
