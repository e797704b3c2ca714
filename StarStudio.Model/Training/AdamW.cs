// StarStudio's own AdamW (torch.optim.AdamW's update rule, decoupled weight decay) with state that is plain named
// tensors, so a checkpoint is one safetensors file and a resumed run continues bit for bit.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StarStudio.Model.Training;

public sealed class AdamW : IDisposable
{
    readonly List<(string Name, Parameter Param, Tensor ExpAvg, Tensor ExpAvgSq, bool Decay)> _slots = [];

    /// <param name="parameters">Named parameters to optimise (names key the state in checkpoints).</param>
    /// <param name="noDecay">Names that get no weight decay (biases, norms, embeddings of positions and scales).</param>
    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, double beta1 = 0.9, double beta2 = 0.95, double eps = 1e-8,
        double weightDecay = 0.0, Func<string, Parameter, bool>? noDecay = null)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        noDecay ??= (name, p) => p.dim() < 2;
        using (no_grad())
            foreach (var (name, p) in parameters)
                _slots.Add((name, p, zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope(), !noDecay(name, p)));
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }
    /// <summary>Updates done so far (bias correction uses it).</summary>
    public long StepCount { get; private set; }
    public IEnumerable<Parameter> Parameters => _slots.Select(s => s.Param);

    public void ZeroGrad()
    {
        using var _ = no_grad();
        foreach (var s in _slots)
            if (s.Param.grad is { } g) { g.zero_(); g.Dispose(); }
    }

    /// <summary>Clips the global gradient norm to maxNorm (no clipping when maxNorm &lt;= 0); returns the norm before clipping.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var grads = _slots.Where(s => s.Param.grad is not null).Select(s => s.Param.grad!).ToList();
        if (grads.Count == 0) return 0;
        var total = stack(grads.Select(g => g.pow(2).sum()).ToArray()).sum().sqrt().item<float>();
        // A non-finite gradient (an overflow, or libtorch's CPU kernels on some machines: TorchNativeLoader) would
        // poison every weight and both moments for good; the next Step skips the update instead, as AMP's scaler does.
        _skipNext = !float.IsFinite(total);
        if (_skipNext) return total;
        if (maxNorm > 0 && total > maxNorm)
        {
            double coef = maxNorm / (total + 1e-6);
            foreach (var g in grads) g.mul_(coef);
        }
        return total;
    }

    /// <summary>Updates skipped because the gradient was not finite (see <see cref="ClipGradNorm"/>).</summary>
    public long SkippedSteps { get; private set; }

    bool _skipNext;

    public void Step(double lr)
    {
        if (_skipNext)
        {
            _skipNext = false;
            SkippedSteps++;
            return;
        }
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (_, p, m, v, decay) in _slots)
        {
            if (p.grad is not { } g) continue;
            if (decay && WeightDecay > 0) p.mul_(1 - lr * WeightDecay);
            m.mul_(Beta1).add_(g, alpha: 1 - Beta1);
            v.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            var denom = (v / bc2).sqrt_().add_(Eps);
            p.addcdiv_(m, denom, value: -lr / bc1);
        }
    }

    /// <summary>Optimizer state as named tensors ("exp_avg.NAME", "exp_avg_sq.NAME") plus the step count in metadata.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, _, m, v, _) in _slots)
        {
            d["exp_avg." + name] = m;
            d["exp_avg_sq." + name] = v;
        }
        return d;
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount)
    {
        using var _ = no_grad();
        foreach (var (name, p, m, v, _) in _slots)
        {
            if (!state.TryGetValue("exp_avg." + name, out var sm) || !state.TryGetValue("exp_avg_sq." + name, out var sv))
                throw new InvalidDataException($"Optimizer state has no entry for parameter '{name}'.");
            if (!sm.shape.SequenceEqual(p.shape) || !sv.shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"Optimizer state for '{name}' is [{string.Join(",", sm.shape)}], the parameter [{string.Join(",", p.shape)}].");
            m.copy_(sm);
            v.copy_(sv);
        }
        StepCount = stepCount;
    }

    public void Dispose()
    {
        foreach (var s in _slots) { s.ExpAvg.Dispose(); s.ExpAvgSq.Dispose(); }
        _slots.Clear();
    }
}
