// Follows STAR-T2I models/helpers.py (sample_with_top_k_top_p_, gumbel_softmax_with_rng), which is VAR's helpers.py
// plus the per-token confidence STAR's stable sampler needs.
// Shapes: B batch rows, l tokens of this scale, V vocabulary.
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Sampling;

/// <summary>Top-k / top-p filtering and seeded multinomial or Gumbel sampling of token logits.</summary>
public static class TokenSampler
{
    /// <summary>
    /// Sets to -inf every logit outside the k largest of its row (k = 0 keeps all). Ties at the k-th value survive,
    /// as in the reference, which compares against the k-th largest value rather than keeping k indices.
    /// </summary>
    public static Tensor TopKMask_(Tensor logits_BlV, int topK)
    {
        long V = logits_BlV.shape[^1];
        if (topK <= 0 || topK >= V) return logits_BlV;
        using var kth = logits_BlV.topk(topK, dim: -1, largest: true, sorted: false).values.amin([-1], keepdim: true);
        using var remove = logits_BlV.lt(kth);
        return logits_BlV.masked_fill_(remove, double.NegativeInfinity);
    }

    /// <summary>
    /// Nucleus filter: removes the lowest-probability tokens whose cumulative probability is at most 1 - p,
    /// never the most likely one (p = 0 keeps all).
    /// </summary>
    public static Tensor TopPMask_(Tensor logits_BlV, double topP)
    {
        if (topP <= 0) return logits_BlV;
        var (sorted, sortedIdx) = logits_BlV.sort(dim: -1, descending: false);
        using (sorted)
        using (sortedIdx)
        {
            using var cum = sorted.softmax(-1).cumsum(-1);
            using var sortedRemove = cum.le(1 - topP);
            sortedRemove[TensorIndex.Ellipsis, TensorIndex.Slice(-1, null)] = tensor(false);
            using var remove = sortedRemove.scatter(-1, sortedIdx, sortedRemove);
            return logits_BlV.masked_fill_(remove, double.NegativeInfinity);
        }
    }

    /// <summary>
    /// Filters then samples one token per position. Each batch row draws from its own generator, so row i of a batch
    /// equals a single run with that row's seed. Returns token ids [B, l] and the probability of each chosen token [B, l].
    /// </summary>
    public static (Tensor Idx_Bl, Tensor Conf_Bl) Sample(Tensor logits_BlV, int topK, double topP, IReadOnlyList<Generator> rowGenerators)
    {
        long B = logits_BlV.shape[0], l = logits_BlV.shape[1], V = logits_BlV.shape[2];
        CheckRows(B, rowGenerators);
        using var scope = NewDisposeScope();
        var filtered = TopPMask_(TopKMask_(logits_BlV.clone(), topK), topP);
        var prob_BlV = filtered.softmax(-1);
        var rows = new Tensor[B];
        for (int b = 0; b < B; b++)
            rows[b] = multinomial(prob_BlV[b], 1, replacement: true, generator: rowGenerators[b]).view(1, l);
        var idx_Bl = cat(rows, 0);
        var conf_Bl = prob_BlV.gather(2, idx_Bl.unsqueeze(-1)).squeeze(-1);
        return (idx_Bl.MoveToOuterDisposeScope(), conf_Bl.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// VAR's "more smooth": a Gumbel-softmax mixture weight over the vocabulary instead of a hard sample,
    /// tau = max(0.27 (1 - 0.95 ratio), 0.005), logits scaled by 1 + ratio. Returns soft weights [B, l, V].
    /// </summary>
    public static Tensor GumbelSoftWeights(Tensor logits_BlV, double ratio, IReadOnlyList<Generator> rowGenerators)
    {
        long B = logits_BlV.shape[0];
        CheckRows(B, rowGenerators);
        double tau = GumbelTemperature(ratio);
        using var scope = NewDisposeScope();
        var scaled = logits_BlV.mul(1 + ratio);
        var rows = new Tensor[B];
        for (int b = 0; b < B; b++)
        {
            // -log(Exp(1)) is a standard Gumbel sample, drawn from the row's own generator.
            var gumbels = -empty_like(scaled[b]).exponential_(1.0, rowGenerators[b]).log();
            rows[b] = scaled[b].add(gumbels).div(tau).softmax(-1).unsqueeze(0);
        }
        return cat(rows, 0).MoveToOuterDisposeScope();
    }

    public static double GumbelTemperature(double ratio) => Math.Max(0.27 * (1 - ratio * 0.95), 0.005);

    static void CheckRows(long B, IReadOnlyList<Generator> rowGenerators)
    {
        if (rowGenerators.Count != B)
            throw new ArgumentException($"Expected one generator per batch row ({B}), got {rowGenerators.Count}.");
    }
}
