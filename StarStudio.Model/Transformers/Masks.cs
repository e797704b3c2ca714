// Additive attention masks shared by STAR and VAR (var.py / var_drop.py attn_bias_for_masking, prepare_attn_mask).
// Shapes: L all tokens, N rows, T text tokens.
using static TorchSharp.torch;

namespace StarStudio.Model.Transformers;

static class Masks
{
    /// <summary>0 where keep is true, -inf elsewhere (float32, same shape and device as keep).</summary>
    public static Tensor Additive(Tensor keep)
    {
        using var scope = NewDisposeScope();
        var open = zeros_like(keep, dtype: ScalarType.Float32);
        var bias = where(keep, open, full_like(open, float.NegativeInfinity));
        return bias.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The scale-causal mask [1,1,L,L] from each token's scale index lvl_1L [1,L]: query i may see key j iff
    /// level(i) >= level(j), i.e. every token of its own and earlier scales.
    /// </summary>
    public static Tensor ScaleCausal(Tensor lvl_1L)
    {
        long L = lvl_1L.shape[1];
        using var scope = NewDisposeScope();
        var keep = lvl_1L.view(L, 1) >= lvl_1L.view(1, L);
        return Additive(keep).view(1, 1, L, L).MoveToOuterDisposeScope();
    }
}
