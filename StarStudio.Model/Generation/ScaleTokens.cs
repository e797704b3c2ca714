using static TorchSharp.torch;

namespace StarStudio.Model.Generation;

/// <summary>
/// The tokens chosen for one scale: ids and confidences as plain arrays (they leave the model thread), and the
/// codebook vectors [B, l, Cvae] that go into f_hat (a tensor of the caller's dispose scope).
/// </summary>
public sealed class ScaleTokens(int[][] ids, float[][] confidence, Tensor embeddings_BlCvae)
{
    public int[][] Ids { get; } = ids;
    public float[][] Confidence { get; } = confidence;
    public Tensor Embeddings_BlCvae { get; } = embeddings_BlCvae;

    /// <summary>Hard samples: ids [B, l] and their probabilities [B, l].</summary>
    public static ScaleTokens FromSample((Tensor Idx_Bl, Tensor Conf_Bl) sample, Tensor codebook_VCvae) =>
        new(ToRows<long, int>(sample.Idx_Bl, v => (int)v), ToRows<float, float>(sample.Conf_Bl, v => v), Lookup(sample.Idx_Bl, codebook_VCvae));

    /// <summary>More-smooth: a soft mixture of codebook vectors; the id shown is the heaviest component.</summary>
    public static ScaleTokens FromSoftWeights(Tensor soft_BlV, Tensor codebook_VCvae)
    {
        var (weight, idx) = soft_BlV.max(-1);
        return new(ToRows<long, int>(idx, v => (int)v), ToRows<float, float>(weight, v => v), soft_BlV.matmul(codebook_VCvae));
    }

    /// <summary>Given ids (fork): confidence 1, since these tokens were chosen by an earlier run.</summary>
    public static ScaleTokens FromIds(IReadOnlyList<int[]> rows, Tensor codebook_VCvae)
    {
        int B = rows.Count, l = rows[0].Length;
        var flat = rows.SelectMany(r => r.Select(v => (long)v)).ToArray();
        var idx_Bl = tensor(flat, [B, l], device: codebook_VCvae.device);
        var conf = rows.Select(r => Enumerable.Repeat(1f, r.Length).ToArray()).ToArray();
        return new(rows.Select(r => (int[])r.Clone()).ToArray(), conf, Lookup(idx_Bl, codebook_VCvae));
    }

    internal static Tensor Lookup(Tensor idx_Bl, Tensor codebook_VCvae)
    {
        long B = idx_Bl.shape[0], l = idx_Bl.shape[1];
        return codebook_VCvae.index_select(0, idx_Bl.flatten()).view(B, l, codebook_VCvae.shape[1]);
    }

    internal static TOut[][] ToRows<TIn, TOut>(Tensor t_Bl, Func<TIn, TOut> convert) where TIn : unmanaged
    {
        long B = t_Bl.shape[0], l = t_Bl.shape[1];
        using var cpu = t_Bl.detach().cpu().contiguous();
        var all = cpu.data<TIn>().ToArray();
        var rows = new TOut[B][];
        for (int b = 0; b < B; b++)
        {
            rows[b] = new TOut[l];
            for (int i = 0; i < l; i++) rows[b][i] = convert(all[b * l + i]);
        }
        return rows;
    }
}
