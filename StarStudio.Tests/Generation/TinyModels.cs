using StarStudio.Model.Generation;
using StarStudio.Model.Transformers;
using static TorchSharp.torch;

namespace StarStudio.Tests.Generation;

/// <summary>Small random-weight models shared by a test class (built once: construction dominates test time).</summary>
public sealed class TinyModels : IDisposable
{
    public ScaleWiseModel Star { get; } = RandomModels.Create("tiny-star", seed: 1);
    public ScaleWiseModel StarWithSampler { get; } = RandomModels.Create("tiny-star-sampler", seed: 2);
    public ScaleWiseModel Var { get; } = RandomModels.Create("tiny-var", seed: 3);

    /// <summary>The STAR model's parts around another transformer (e.g. a spy); disposing it leaves the parts alone.</summary>
    public ScaleWiseModel StarWith(IScaleWiseTransformer transformer) =>
        new(Star.Name, transformer, Star.Vae, Star.TextEncoder, Star.Limits.NumClasses, Star.StableSamplerFromScale, Star.Device, ownsModules: false);

    public void Dispose()
    {
        Star.Dispose();
        StarWithSampler.Dispose();
        Var.Dispose();
    }
}

/// <summary>Delegates to a real transformer and records how many rows each scale ran with.</summary>
sealed class RowCountingTransformer(IScaleWiseTransformer inner) : DelegatingTransformer(inner)
{
    public List<long> Rows { get; } = [];
    public override Tensor ForwardScale(Tensor x_NlC, int si, ScaleConditioning cond, KvCache cache)
    {
        Rows.Add(x_NlC.shape[0]);
        return Inner.ForwardScale(x_NlC, si, cond, cache);
    }
}
