using StarStudio.Model.Transformers;
using static TorchSharp.torch;

namespace StarStudio.Tests.Generation;

/// <summary>
/// Forwards every member to a real transformer; test spies and fault injectors override <see cref="ForwardScale"/>
/// only, so a new interface member is added here once.
/// </summary>
public abstract class DelegatingTransformer(IScaleWiseTransformer inner) : IScaleWiseTransformer
{
    protected IScaleWiseTransformer Inner => inner;
    public IReadOnlyList<int> PatchNums => inner.PatchNums;
    public int Cvae => inner.Cvae;
    public int VocabSize => inner.VocabSize;
    public int Width => inner.Width;
    public KvCache NewCache() => inner.NewCache();
    public Tensor StartTokens(ScaleConditioning cond) => inner.StartTokens(cond);
    public Tensor ScaleInput(Tensor nextTokenMap_NlCvae, int si) => inner.ScaleInput(nextTokenMap_NlCvae, si);
    public virtual Tensor ForwardScale(Tensor x_NlC, int si, ScaleConditioning cond, KvCache cache) => inner.ForwardScale(x_NlC, si, cond, cache);
    public Tensor Logits(Tensor h_NlC, int si, ScaleConditioning cond, Tensor? x_NlC = null) => inner.Logits(h_NlC, si, cond, x_NlC);
    public Tensor ForwardTeacherForced(Tensor x_BLCvae_woFirstL, ScaleConditioning cond) => inner.ForwardTeacherForced(x_BLCvae_woFirstL, cond);
}
