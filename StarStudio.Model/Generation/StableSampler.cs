// STAR's causal-driven stable sampling: the w_mask branch of autoregressive_infer_cfg in STAR-T2I models/var_drop.py.
// Within one scale, tokens are committed over several steps; each step samples every position, then commits the
// positions ranked highest (randomly for the first 5 steps, by confidence after), so later tokens are sampled by the
// sampler head while seeing the ones already committed.
// Shapes: B images, N rows (2B with guidance), l = pn*pn, V vocabulary, Cvae codebook width.
using StarStudio.Model.Sampling;
using StarStudio.Model.Transformers;
using static TorchSharp.torch;

namespace StarStudio.Model.Generation;

public static class StableSampler
{
    /// <summary>Steps below this commit in random order (the reference's rand_like for step &lt; 5).</summary>
    const int RandomOrderSteps = 5;

    /// <param name="input_NlC">The scale's input tokens (what ForwardScale was given; the main head's detail head reads them).</param>
    /// <param name="h_NlC">The main transformer's hidden state for the scale.</param>
    public static ScaleTokens SampleScale(ScaleWiseModel model, Tensor input_NlC, Tensor h_NlC, int si, ScaleConditioning cond,
        GenerationRequest request, double rampedCfg, IReadOnlyList<Generator> rngs)
    {
        var head = model.SamplerHead ?? throw new InvalidOperationException("This model has no stable-sampler head.");
        var text = cond as TextConditioning ?? throw new InvalidOperationException("Stable sampling needs text conditioning.");
        var codebook_VCvae = model.Vae.Quantize.Embedding.weight!;
        int B = rngs.Count, pn = model.Transformer.PatchNums[si], l = pn * pn;
        long N = h_NlC.shape[0];
        var device = h_NlC.device;

        // '1024': the main head commits during the first 5 steps of scales below 13; the sampler head does the rest.
        bool v1024 = request.StableSamplerVersion == StableSamplerVersion.V1024;
        int mainHeadSteps = v1024 ? 5 : 0, mainHeadBelowScale = v1024 ? 13 : -1;
        var counts = MaskSchedule.Counts(MaskSchedule.StepsFor(si, request.StableSamplerVersion), pn);

        var h_BlCvae = zeros([B, l, model.Transformer.Cvae], device: device);
        var mask_Bl = zeros([B, l], device: device);
        var ids_Bl = zeros([B, l], ScalarType.Int64, device: device);
        var conf_Bl = zeros([B, l], device: device);

        for (int step = 0; step < counts.Length; step++)
        {
            int k = Math.Clamp(counts[step], 0, l);
            Tensor idx, prob;
            if (step < mainHeadSteps && si < mainHeadBelowScale)
            {
                var logits = GuidanceSchedule.Combine(model.Transformer.Logits(h_NlC, si, cond, input_NlC), rampedCfg, B);
                (idx, prob) = TokenSampler.Sample(logits, request.TopK, request.TopP, rngs);
                // Reference quirk kept on purpose: this first commit ranks by confidence WITHOUT excluding
                // positions already committed, so it may pick fewer new tokens than k.
                Commit(TopKPositions(prob, k), idx, prob);
            }
            else
            {
                var committed = h_BlCvae.mul(mask_Bl.unsqueeze(-1));
                if (N == 2 * B) committed = committed.repeat(2, 1, 1);
                // The reference guides the sampler head with the full cfg, not the per-scale ramp.
                var logits = GuidanceSchedule.Combine(head.SamplerLogits(h_NlC, committed, si, text), request.Cfg, B);
                (idx, prob) = TokenSampler.Sample(logits, request.TopK, request.TopP, rngs);
            }
            // Rank positions: random for the first steps, by confidence after; never re-commit a committed position.
            var rank = step < RandomOrderSteps ? RandomLike(prob, rngs) : prob;
            Commit(TopKPositions(rank.mul(mask_Bl.neg().add(1)), k), idx, prob);
        }
        return new ScaleTokens(
            ScaleTokens.ToRows<long, int>(ids_Bl, v => (int)v),
            ScaleTokens.ToRows<float, float>(conf_Bl, v => v),
            h_BlCvae);

        void Commit(Tensor positions_Bk, Tensor idx_Bl, Tensor prob_Bl)
        {
            var before = mask_Bl.clone();
            if (positions_Bk.shape[1] > 0) mask_Bl.scatter_(1, positions_Bk, ones(positions_Bk.shape, device: device));
            var newly_Bl = mask_Bl.sub(before);
            h_BlCvae.add_(ScaleTokens.Lookup(idx_Bl, codebook_VCvae).mul(newly_Bl.unsqueeze(-1)));
            var isNew = newly_Bl.gt(0);
            ids_Bl = where(isNew, idx_Bl, ids_Bl);
            conf_Bl = where(isNew, prob_Bl, conf_Bl);
        }
    }

    static Tensor TopKPositions(Tensor score_Bl, int k) =>
        k == 0 ? zeros([score_Bl.shape[0], 0], ScalarType.Int64, device: score_Bl.device) : score_Bl.topk(k, dim: -1).indexes;

    static Tensor RandomLike(Tensor t_Bl, IReadOnlyList<Generator> rngs) =>
        cat(rngs.Select((g, b) => rand([1, t_Bl.shape[1]], generator: g, device: t_Bl.device)).ToArray(), 0);
}
