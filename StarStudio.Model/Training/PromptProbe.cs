// StarStudio's own training aid (no reference file): STAR reads prompts through a frozen, pretrained CLIP; our word
// text encoder starts from nothing and, trained only through the image loss, collapses within 20 steps to a pooled
// vector that is nearly the same for every prompt (its spread over a batch fell from 0.56 to 0.05), because a constant
// first token is the quickest way to the codes' marginal. The probe asks the pooled vector to name the prompt's facts,
// which keeps it informative while the transformer learns to read it.
// Shapes: n prompts, D text width.
using StarStudio.Model.Shapes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Training;

/// <summary>
/// Linear read-outs of the pooled prompt vector: the background colour (or "not said") and which colour-shape pairs
/// the prompt names. Used only in training (the exported model has no probe).
/// </summary>
public sealed class PromptProbe : nn.Module<Tensor, (Tensor Background, Tensor Pairs)>
{
    static readonly int Colors = Enum.GetValues<PaletteColor>().Length;
    static readonly int Shapes = Enum.GetValues<ShapeKind>().Length;

    readonly Linear background;
    readonly Linear pairs;

    public PromptProbe(int dim) : base(nameof(PromptProbe))
    {
        background = nn.Linear(dim, Colors + 1);
        pairs = nn.Linear(dim, Colors * Shapes);
        RegisterComponents();
    }

    public override (Tensor Background, Tensor Pairs) forward(Tensor pooled_nD) => (background.call(pooled_nD), pairs.call(pooled_nD));

    /// <summary>Targets of prompts: background class [n] (Colors = not said) and pair indicators [n, Colors*Shapes].</summary>
    public static (Tensor Background, Tensor Pairs) Targets(IReadOnlyList<string> prompts)
    {
        var bg = new long[prompts.Count];
        var pairs = new float[prompts.Count * Colors * Shapes];
        for (int i = 0; i < prompts.Count; i++)
        {
            var claims = PromptClaims.Parse(prompts[i]);
            bg[i] = claims.Background is { } c ? (int)c : Colors;
            foreach (var o in claims.Objects) pairs[i * Colors * Shapes + (int)o.Color * Shapes + (int)o.Shape] = 1f;
        }
        return (tensor(bg), tensor(pairs, [prompts.Count, Colors * Shapes]));
    }

    /// <summary>Cross-entropy of the background plus binary cross-entropy of the pairs; and the background accuracy.</summary>
    public (Tensor Loss, double BackgroundAccuracy) Loss(Tensor pooled_nD, IReadOnlyList<string> prompts)
    {
        using var scope = NewDisposeScope();
        var (bgLogits, pairLogits) = forward(pooled_nD);
        var (bg, pairTargets) = Targets(prompts);
        var loss = F.cross_entropy(bgLogits, bg) + F.binary_cross_entropy_with_logits(pairLogits, pairTargets) * Shapes;
        double acc = bgLogits.argmax(1).eq(bg).to_type(ScalarType.Float32).mean().item<float>();
        return (loss.MoveToOuterDisposeScope(), acc);
    }
}
