namespace StarStudio.Model.Transformers;

/// <summary>
/// Where each scale's tokens sit in the concatenated sequence of all scales (the reference's begin_ends, L, first_l),
/// shared by the STAR and VAR transformers.
/// </summary>
public sealed class ScaleLayout
{
    public ScaleLayout(IReadOnlyList<int> patchNums)
    {
        Begin = new int[patchNums.Count];
        End = new int[patchNums.Count];
        for (int i = 0, cur = 0; i < patchNums.Count; i++)
        {
            Begin[i] = cur;
            cur += patchNums[i] * patchNums[i];
            End[i] = cur;
        }
        FirstL = patchNums[0] * patchNums[0];
    }

    /// <summary>First token index of each scale.</summary>
    public int[] Begin { get; }
    /// <summary>One past the last token index of each scale.</summary>
    public int[] End { get; }
    /// <summary>Tokens of all scales (L).</summary>
    public int L => End[^1];
    /// <summary>Tokens of scale 0 (first_l).</summary>
    public int FirstL { get; }

    /// <summary>The scale index of every token, [L] (the reference's lvl_1L).</summary>
    public long[] LevelOfToken()
    {
        var lvl = new long[L];
        for (int si = 0; si < Begin.Length; si++) Array.Fill(lvl, si, Begin[si], End[si] - Begin[si]);
        return lvl;
    }
}
