// The generation loop, read this file first. It follows VAR/STAR's autoregressive_infer_cfg
// (FoundationVision/VAR models/var.py, Davinci-XLab/STAR-T2I models/var_drop.py) top to bottom, and yields every
// scale as soon as it exists instead of returning only the final image.
// Shapes: B images, N transformer rows (2B with classifier-free guidance, B without), l = pn*pn tokens of this
// scale, C width, V vocabulary, Cvae codebook vector width, pn side of this scale, P side of the last scale.
using System.Diagnostics;
using StarStudio.Model.Sampling;
using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Generation;

public sealed class GenerationPipeline(ScaleWiseModel model)
{
    public ScaleWiseModel Model { get; } = model;

    /// <summary>
    /// Generates one batch, scale by scale. Enumerate it on one thread (TorchSharp's dispose scopes are per thread);
    /// each frame is plain data. Cancellation is checked before every scale, so a cancelled run stops within one scale.
    /// No dispose scope or grad mode stays open across a yield: the caller's own tensor work is unaffected.
    /// </summary>
    public IEnumerable<ScaleFrame> Generate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        GenerationValidator.Validate(request, Model.Limits);
        return Run(request, cancellationToken);
    }

    IEnumerable<ScaleFrame> Run(GenerationRequest request, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var transformer = Model.Transformer;
        var quantizer = Model.Vae.Quantize;
        var patchNums = transformer.PatchNums;
        int S = patchNums.Count, P = patchNums[^1], B = request.Rows;
        bool guided = request.Cfg > 0;
        var rngs = Enumerable.Range(0, B).Select(i => new Generator((ulong)request.SeedFor(i), Model.Device)).ToArray();

        // 1. Conditioning: conditional rows first, then (with guidance) the unconditional ones.
        using var cond = Model.Condition(request, guided);
        using var cache = transformer.NewCache();

        // 2. Scale 0's input is the start token; f_hat accumulates every scale's upsampled codes.
        Tensor x_NlC, f_hat_BCPP;
        using (no_grad())
        {
            x_NlC = transformer.StartTokens(cond.Conditioning).DetachFromDisposeScope();
            f_hat_BCPP = zeros([B, transformer.Cvae, P, P], device: Model.Device).DetachFromDisposeScope();
        }
        try
        {
            for (int si = 0; si < S; si++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int pn = patchNums[si];
                double ratio = S > 1 ? (double)si / (S - 1) : 1;
                double t = GuidanceSchedule.WeightAt(request.Cfg, si, S);
                var timer = Stopwatch.StartNew();
                ScaleTokens chosen;
                double transformerMs;
                using (no_grad())
                using (NewDisposeScope())
                {
                    // 3. Transformer over this scale's tokens, attending to all coarser scales through the KV cache.
                    var h_NlC = transformer.ForwardScale(x_NlC, si, cond.Conditioning, cache);

                    // 4. Sample this scale's tokens: stable sampler, more-smooth, or plain top-k/top-p.
                    if (request.StableSampling && si >= Model.StableSamplerFromScale)
                    {
                        transformerMs = timer.Elapsed.TotalMilliseconds;
                        chosen = StableSampler.SampleScale(Model, x_NlC, h_NlC, si, cond.Conditioning, request, t, rngs);
                    }
                    else
                    {
                        var logits_NlV = transformer.Logits(h_NlC, si, cond.Conditioning, x_NlC);
                        transformerMs = timer.Elapsed.TotalMilliseconds;
                        var logits_BlV = GuidanceSchedule.Combine(logits_NlV, t, B);
                        var codebook_VCvae = quantizer.Embedding.weight!;
                        chosen = request.MoreSmooth
                            ? ScaleTokens.FromSoftWeights(TokenSampler.GumbelSoftWeights(logits_BlV, ratio, rngs), codebook_VCvae)
                            : ScaleTokens.FromSample(TokenSampler.Sample(logits_BlV, request.TopK, request.TopP, rngs), codebook_VCvae);
                    }

                    // Fork: keep the given coarse scales (the random stream above advanced exactly as in the original run).
                    if (request.PrefixTokens is { } prefix && si < prefix.Count)
                        chosen = ScaleTokens.FromIds(prefix[si], quantizer.Embedding.weight!);

                    // 5. Add this scale to f_hat and derive the next scale's input (the VQ-VAE's residual pyramid).
                    var h_BChw = chosen.Embeddings_BlCvae.transpose(1, 2).reshape(B, transformer.Cvae, pn, pn);
                    // f_hat is updated in place (as in the reference); the next map is a new tensor of this scope.
                    var (_, nextMap) = quantizer.GetNextAutoregressiveInput(si, S, f_hat_BCPP, h_BChw);
                    if (si != S - 1)
                    {
                        int nextPn = patchNums[si + 1];
                        var next_BlCvae = nextMap.view(B, transformer.Cvae, nextPn * nextPn).transpose(1, 2);
                        var nextX = transformer.ScaleInput(next_BlCvae, si + 1);
                        if (guided) nextX = nextX.repeat(2, 1, 1); // the unconditional rows see the same coarse image
                        x_NlC.Dispose();
                        x_NlC = nextX.DetachFromDisposeScope();
                    }
                }
                double samplingMs = timer.Elapsed.TotalMilliseconds - transformerMs;

                // 6. Decode everything so far into a preview (always the full decoder at the last scale).
                var decodeTimer = Stopwatch.StartNew();
                var images = Model.Decode(f_hat_BCPP, si == S - 1 ? PreviewMode.Full : request.Previews);
                double decodeMs = images is null ? 0 : decodeTimer.Elapsed.TotalMilliseconds;
                yield return new ScaleFrame(si, S, pn, chosen.Ids, chosen.Confidence, images,
                    new ScaleTimings(transformerMs, samplingMs, decodeMs, clock.Elapsed.TotalMilliseconds),
                    si == 0 ? cond.Notices : []);
            }
        }
        finally
        {
            x_NlC.Dispose();
            f_hat_BCPP.Dispose();
            foreach (var rng in rngs) rng.Dispose();
        }
    }
}
