// The contract the generation pipeline is written against: conditionings, the scale-wise transformer and STAR's
// stable sampler head. Shapes: N rows through the transformer (CFG doubles them: conditional first, then unconditional),
// B batch in training, L all tokens, l tokens of one scale, C width, V vocabulary, T text tokens, Cvae VQ latent channels.
using static TorchSharp.torch;

namespace StarStudio.Model.Transformers;

/// <summary>Conditioning for the rows that go through the transformer (CFG doubles rows: conditional first, then unconditional).</summary>
public abstract record ScaleConditioning
{
    public abstract long Rows { get; }
}

/// <summary>STAR: text hidden states [N,T,Ctext], attention mask [N,T] (1 keep, 0 pad; float or bool), pooled [N,Ctext].</summary>
public sealed record TextConditioning(Tensor HiddenStates, Tensor AttentionMask, Tensor Pooled) : ScaleConditioning
{
    public override long Rows => HiddenStates.shape[0];

    /// <summary>Throws ArgumentException unless the three tensors agree with each other and with the text width.</summary>
    internal void Validate(long textDim)
    {
        if (HiddenStates.dim() != 3 || HiddenStates.shape[2] != textDim)
            throw new ArgumentException($"Text hidden states must be [N, T, {textDim}], got [{string.Join(",", HiddenStates.shape)}].");
        long n = HiddenStates.shape[0], t = HiddenStates.shape[1];
        if (AttentionMask.dim() != 2 || AttentionMask.shape[0] != n || AttentionMask.shape[1] != t)
            throw new ArgumentException($"Text attention mask must be [{n}, {t}], got [{string.Join(",", AttentionMask.shape)}].");
        if (Pooled.dim() != 2 || Pooled.shape[0] != n || Pooled.shape[1] != textDim)
            throw new ArgumentException($"Pooled text embedding must be [{n}, {textDim}], got [{string.Join(",", Pooled.shape)}].");
    }
}

/// <summary>VAR: class labels [N] (int64); label == NumClasses is the unconditional label.</summary>
public sealed record ClassConditioning(Tensor Labels) : ScaleConditioning
{
    public override long Rows => Labels.shape[0];
}

/// <summary>A scale-wise autoregressive transformer (STAR or VAR) driven one scale at a time through a <see cref="KvCache"/>.</summary>
public interface IScaleWiseTransformer
{
    /// <summary>Side length of each scale's token map, e.g. 1,2,3,...,16.</summary>
    IReadOnlyList<int> PatchNums { get; }
    int Cvae { get; }
    int VocabSize { get; }
    int Width { get; }

    /// <summary>An empty cache for one generation run; dispose it when the run ends.</summary>
    KvCache NewCache();

    /// <summary>Input of scale 0: [N, first_l, C] (sos from the condition + pos_start (+ level/pos embeddings as the reference)).</summary>
    Tensor StartTokens(ScaleConditioning cond);

    /// <summary>Input of scale si >= 1 from the VQ's next-scale map [N, pn*pn, Cvae]: word_embed (+ lvl/pos embedding of that scale as the reference).</summary>
    Tensor ScaleInput(Tensor nextTokenMap_NlCvae, int si);

    /// <summary>Runs every block on scale si's tokens, attending to the cache (then appending this scale to it). Returns hidden [N,l,C].</summary>
    Tensor ForwardScale(Tensor x_NlC, int si, ScaleConditioning cond, KvCache cache);

    /// <summary>Logits [N,l,V] (STAR: optional logit_norm then head_logits; VAR: head_nm(h, cond_BD) then head).
    /// <paramref name="x_NlC"/>: the scale's input tokens (what ForwardScale was given), read by StarStudio's detail head.</summary>
    Tensor Logits(Tensor h_NlC, int si, ScaleConditioning cond, Tensor? x_NlC = null);

    /// <summary>Teacher-forced forward over all scales with the scale-causal mask: input [B, L-first_l, Cvae] -> logits [B,L,V].</summary>
    Tensor ForwardTeacherForced(Tensor x_BLCvae_woFirstL, ScaleConditioning cond);
}

/// <summary>STAR's causal-driven stable sampler head (only when <see cref="StarConfig.StableSamplerHead"/>).</summary>
public interface IStableSamplerHead
{
    /// <summary>First scale index the reference hands to the sampler head (sample_from_idx).</summary>
    int SampleFromIdx { get; }

    /// <summary>
    /// Logits [N,l,V] of the sampler head for scale si, given the main transformer's hidden x [N,l,C] for that
    /// scale and the embeddings already committed (codebook vectors * mask, zeros elsewhere) [N,l,Cvae], exactly
    /// as the reference's w_mask branch builds cur_feature / prev_emb (pooled text token first, then dropped).
    /// </summary>
    Tensor SamplerLogits(Tensor x_NlC, Tensor committed_NlCvae, int si, TextConditioning cond);
}
