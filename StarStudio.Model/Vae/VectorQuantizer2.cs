// Multi-scale residual vector quantiser; follows VAR models/quant.py (VectorQuantizer2).
// Shapes: B batch, C = Cvae, H W the largest scale (f_hat side), pn/ph pw one scale's side, l = pn*pn tokens of a
// scale, L tokens of all scales, first_l tokens of the first scale, N = B*l rows, V vocabulary, SN number of scales.
// Bicubic resampling states align_corners=false, PyTorch's default, because libtorch warns when it is left unset.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Vae;

/// <summary>Result of the training forward: straight-through f_hat, per-scale codebook usage (percent) if asked, VQ loss.</summary>
public sealed record QuantizerOutput(Tensor FHat_BChw, IReadOnlyList<double>? Usages, Tensor VqLoss);

/// <summary>
/// Residual quantisation over scales. Scale si takes the residual f_rest area-downsampled to pn x pn, picks the
/// nearest codebook vector per cell, upsamples the chosen vectors bicubically back to H x W, refines them with the
/// scale's Phi and adds them to f_hat (and removes them from f_rest). The last scale works at full size, no resampling.
/// </summary>
public sealed class VectorQuantizer2 : nn.Module<Tensor, bool, QuantizerOutput>
{
    [ComponentName(Name = "quant_resi")] private readonly PhiSelector _quantResi;
    // EMA of codebook hits per scale, updated only by the training forward; kept for the checkpoint's key.
    [ComponentName(Name = "ema_vocab_hit_SV")] private Tensor _emaVocabHitSV;
    [ComponentName(Name = "embedding")] private readonly Embedding _embedding;
    private readonly int[] _vPatchNums;

    public VectorQuantizer2(VqVaeConfig config, Device? device = null) : base(nameof(VectorQuantizer2))
    {
        config.Validate();
        VocabSize = config.VocabSize;
        Cvae = config.Cvae;
        UsingZNorm = config.UsingZNorm;
        Beta = config.Beta;
        QuantResiRatio = config.QuantResi;
        PreferredCodeBias = config.PreferredCodeBias;
        _vPatchNums = [.. config.VPatchNums];

        _quantResi = config.ShareQuantResi switch
        {
            0 => new PhiNonShared(Enumerable.Range(0, config.DefaultQResiCounts > 0 ? config.DefaultQResiCounts : _vPatchNums.Length)
                    .Select(_ => PhiSelector.MakePhi(Cvae, config.QuantResi, device))),
            1 => new PhiShared(PhiSelector.MakePhi(Cvae, config.QuantResi, device)),
            _ => new PhiPartiallyShared(Enumerable.Range(0, config.ShareQuantResi)
                    .Select(_ => PhiSelector.MakePhi(Cvae, config.QuantResi, device))),
        };
        _emaVocabHitSV = zeros([_vPatchNums.Length, VocabSize], device: device).DetachFromDisposeScope();
        _embedding = nn.Embedding(VocabSize, Cvae, device: device);
        RegisterComponents();
    }

    public int VocabSize { get; }
    public int Cvae { get; }
    public bool UsingZNorm { get; }
    public double Beta { get; }
    public double QuantResiRatio { get; }

    /// <summary>Squared-distance advantage of <see cref="PreferredCode"/> in <see cref="NearestIndices"/> (<see cref="VqVaeConfig.PreferredCodeBias"/>).</summary>
    public double PreferredCodeBias { get; }

    /// <summary>The code <see cref="PreferredCodeBias"/> favours: the smallest vector of the codebook, "add almost nothing".</summary>
    public long PreferredCode()
    {
        using var _ = no_grad();
        using var norms_V = _embedding.weight!.detach().square().sum(1);
        using var arg = norms_V.argmin();
        return arg.item<long>();
    }
    public IReadOnlyList<int> VPatchNums => _vPatchNums;
    public Embedding Embedding => _embedding;
    public PhiSelector QuantResi => _quantResi;
    public Tensor EmaVocabHitSV => _emaVocabHitSV;

    /// <summary>How many scales have updated the EMA so far (the reference's record_hit: it counts scales, not steps).</summary>
    public int RecordHit { get; private set; }

    /// <summary>The Phi used by scale <paramref name="si"/> of <paramref name="SN"/>: quant_resi[si / (SN - 1)].</summary>
    public nn.Module<Tensor, Tensor> PhiFor(int si, int SN) => _quantResi[PhiSelector.Position(si, SN)];

    /// <summary>Index of the Phi used by scale <paramref name="si"/> of <paramref name="SN"/>.</summary>
    public int PhiIndexFor(int si, int SN) => _quantResi.IndexAt(PhiSelector.Position(si, SN));

    /// <summary>Nearest codebook entry of each row: L2 distance, or cosine similarity when using_znorm.</summary>
    public Tensor NearestIndices(Tensor z_NC)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var e_VC = _embedding.weight!.detach();
        Tensor idx_N;
        if (UsingZNorm)
        {
            idx_N = F.normalize(z_NC, dim: -1).matmul(F.normalize(e_VC.t(), dim: 0)).argmax(1);
        }
        else
        {
            // |z|^2 + |e|^2 - 2 z.e, summed in the reference's order so that near-ties resolve the same way.
            var d_NV = z_NC.square().sum(1, keepdim: true) + e_VC.square().sum(1);
            d_NV.addmm_(z_NC, e_VC.t(), beta: 1, alpha: -2);
            if (PreferredCodeBias > 0) d_NV.select(1, PreferredCode()).sub_(PreferredCodeBias);
            idx_N = d_NV.argmin(1);
        }
        return idx_N.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// VAE training forward (VAR's): quantise all scales, update the usage EMA (training mode), and return the
    /// straight-through f_hat (value of the quantised f_hat, gradient of identity to <paramref name="f_BChw"/>) and
    /// mean over scales of beta*|sg(f_hat)-f|^2 + |f_hat-sg(f)|^2.
    /// </summary>
    /// <remarks>
    /// The reference updates the EMA only when torch.distributed is initialised, all-reducing the hits over
    /// processes; here one process is the whole world, so the EMA is updated whenever the module is training.
    /// </remarks>
    public override QuantizerOutput forward(Tensor f_BChw, bool retUsages) => ForwardKeeping(f_BChw, retUsages, _vPatchNums.Length);

    /// <summary>
    /// The training forward with only the first <paramref name="keepScales"/> scales quantised and summed (StarStudio's
    /// option, not in VAR: a tokenizer trained so that every partial pyramid decodes to a legible picture). The
    /// straight-through gradient then reaches the latent through its low-pass at the last kept scale (area down, bicubic
    /// up, as the quantiser resamples), so the encoder learns to put what the picture needs into what coarse scales
    /// can hold. keepScales = all scales is exactly <see cref="forward"/>.
    /// </summary>
    public QuantizerOutput ForwardKeeping(Tensor f_BChw, bool retUsages, int keepScales)
    {
        if (keepScales < 1 || keepScales > _vPatchNums.Length)
            throw new ArgumentOutOfRangeException(nameof(keepScales), $"Keep between 1 and {_vPatchNums.Length} scales, not {keepScales}.");
        using var scope = NewDisposeScope();
        if (f_BChw.dtype != ScalarType.Float32) f_BChw = f_BChw.to_type(ScalarType.Float32);
        CheckLatent(f_BChw, _vPatchNums[^1], _vPatchNums[^1]);
        long B = f_BChw.shape[0], C = f_BChw.shape[1], H = f_BChw.shape[2], W = f_BChw.shape[3];
        var f_no_grad = f_BChw.detach();
        var f_rest = f_no_grad.clone();
        var f_hat = zeros_like(f_rest);
        var meanVqLoss = zeros([], device: f_BChw.device);
        int SN = _vPatchNums.Length;

        for (int si = 0; si < keepScales; si++)
        {
            int pn = _vPatchNums[si];
            using var step = NewDisposeScope();
            var rest_NC = (si != SN - 1 ? F.interpolate(f_rest, [pn, pn], mode: InterpolationMode.Area) : f_rest)
                .permute(0, 2, 3, 1).reshape(-1, C);
            var idx_N = NearestIndices(rest_NC);
            var hit_V = idx_N.bincount(null, VocabSize).to_type(ScalarType.Float32);

            var h_BChw = _embedding.call(idx_N.view(B, pn, pn)).permute(0, 3, 1, 2);
            h_BChw = si != SN - 1
                ? F.interpolate(h_BChw, [H, W], mode: InterpolationMode.Bicubic, align_corners: false).contiguous()
                : h_BChw.contiguous();
            h_BChw = PhiFor(si, SN).call(h_BChw);
            f_hat = (f_hat + h_BChw).MoveToOuterDisposeScope();
            f_rest = (f_rest - h_BChw).MoveToOuterDisposeScope();

            if (training)
            {
                using var _ = no_grad();
                var ema_V = _emaVocabHitSV[si];
                if (RecordHit == 0) ema_V.copy_(hit_V);
                else if (RecordHit < 100) ema_V.mul_(0.9).add_(hit_V.mul(0.1));
                else ema_V.mul_(0.99).add_(hit_V.mul(0.01));
                RecordHit++;
            }
            var loss = F.mse_loss(f_hat.detach(), f_BChw).mul_(Beta) + F.mse_loss(f_hat, f_no_grad);
            meanVqLoss = (meanVqLoss + loss).MoveToOuterDisposeScope();
        }
        meanVqLoss = meanVqLoss * (1.0 / keepScales);
        // Straight-through: the value of f_hat, the gradient of f's low-pass at the last kept scale (f itself when
        // every scale is kept, as in VAR).
        var low = LowPass(f_BChw, _vPatchNums[keepScales - 1]);
        var f_hat_st = (f_hat.detach() - low.detach()).add_(low);

        IReadOnlyList<double>? usages = null;
        if (retUsages)
        {
            // A code counts as used at a scale when its EMA hits reach 8% of a uniform share of B*H*W positions.
            const int worldSize = 1;
            double margin = worldSize * (f_BChw.numel() / (double)C) / VocabSize * 0.08;
            usages = [.. Enumerable.Range(0, SN).Select(si =>
            {
                using var s = NewDisposeScope();
                return _emaVocabHitSV[si].ge(margin).to_type(ScalarType.Float32).mean().item<float>() * 100.0;
            })];
        }
        return new QuantizerOutput(f_hat_st.MoveToOuterDisposeScope(), usages, meanVqLoss.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// A latent [B, C, H, W] through a pn x pn grid and back: area down, bicubic up (as the quantiser resamples); at the
    /// latent's own side, the latent itself.
    /// </summary>
    public static Tensor LowPass(Tensor f_BChw, int pn)
    {
        long H = f_BChw.shape[2], W = f_BChw.shape[3];
        if (pn == H && pn == W) return f_BChw.alias();
        using var down = F.interpolate(f_BChw, [pn, pn], mode: InterpolationMode.Area);
        return F.interpolate(down, [H, W], mode: InterpolationMode.Bicubic, align_corners: false);
    }

    /// <summary>Accumulates per-scale codebook vectors into f_hat; each f_hat list entry is the sum up to that scale.</summary>
    /// <param name="ms_h_BChw">One [B, C, pn, pn] map per scale (the chosen codebook vectors).</param>
    /// <param name="allToMaxScale">
    /// true (what training and inference do): every map is upsampled to H x W before its Phi. false: f_hat itself
    /// grows scale by scale (the reference marks this as experimental only).
    /// </param>
    /// <param name="lastOne">Only return the final f_hat (a one-element list).</param>
    public IReadOnlyList<Tensor> EmbedToFhat(IReadOnlyList<Tensor> ms_h_BChw, bool allToMaxScale = true, bool lastOne = false)
    {
        int SN = _vPatchNums.Length;
        if (ms_h_BChw.Count != SN) throw new ArgumentException($"Expected {SN} scale maps, got {ms_h_BChw.Count}.");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long B = ms_h_BChw[0].shape[0];
        int H = _vPatchNums[^1], W = H;
        var result = new List<Tensor>();
        if (allToMaxScale)
        {
            var f_hat = zeros([B, Cvae, H, W], ScalarType.Float32, ms_h_BChw[0].device);
            for (int si = 0; si < SN; si++)
            {
                using var step = NewDisposeScope();
                var h_BChw = ms_h_BChw[si];
                if (si < SN - 1) h_BChw = F.interpolate(h_BChw, [H, W], mode: InterpolationMode.Bicubic, align_corners: false);
                f_hat.add_(PhiFor(si, SN).call(h_BChw));
                if (!lastOne) result.Add(f_hat.clone().MoveToOuterDisposeScope());
            }
            if (lastOne) result.Add(f_hat);
        }
        else
        {
            var f_hat = zeros([B, Cvae, _vPatchNums[0], _vPatchNums[0]], ScalarType.Float32, ms_h_BChw[0].device);
            for (int si = 0; si < SN; si++)
            {
                int pn = _vPatchNums[si];
                f_hat = F.interpolate(f_hat, [pn, pn], mode: InterpolationMode.Bicubic, align_corners: false);
                using (var phiOut = PhiFor(si, SN).call(ms_h_BChw[si])) f_hat.add_(phiOut);
                if (!lastOne) result.Add(f_hat);
            }
            if (lastOne) result.Add(f_hat);
        }
        foreach (var t in result) scope.MoveToOuter(t);
        return result;
    }

    /// <summary>
    /// Quantises encoder features scale by scale: returns each scale's token indices [B, ph*pw] (row-major), or
    /// (<paramref name="toFhat"/>) the accumulated f_hat [B, C, H, W] after each scale.
    /// </summary>
    /// <param name="patchHWs">Scale sizes to use instead of the configured v_patch_nums; the last must equal (H, W).</param>
    public IReadOnlyList<Tensor> FToIdxBlOrFhat(Tensor f_BChw, bool toFhat, IReadOnlyList<(int H, int W)>? patchHWs = null)
    {
        patchHWs ??= [.. _vPatchNums.Select(pn => (pn, pn))];
        CheckLatent(f_BChw, patchHWs[^1].H, patchHWs[^1].W);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long B = f_BChw.shape[0], C = f_BChw.shape[1], H = f_BChw.shape[2], W = f_BChw.shape[3];
        var f_rest = f_BChw.detach().clone();
        var f_hat = zeros_like(f_rest);
        var result = new List<Tensor>();
        int SN = patchHWs.Count;
        for (int si = 0; si < SN; si++)
        {
            var (ph, pw) = patchHWs[si];
            using var step = NewDisposeScope();
            var z_NC = (si != SN - 1 ? F.interpolate(f_rest, [ph, pw], mode: InterpolationMode.Area) : f_rest)
                .permute(0, 2, 3, 1).reshape(-1, C);
            var idx_N = NearestIndices(z_NC);
            var h_BChw = _embedding.call(idx_N.view(B, ph, pw)).permute(0, 3, 1, 2);
            h_BChw = si != SN - 1
                ? F.interpolate(h_BChw, [H, W], mode: InterpolationMode.Bicubic, align_corners: false).contiguous()
                : h_BChw.contiguous();
            h_BChw = PhiFor(si, SN).call(h_BChw);
            f_hat.add_(h_BChw);
            f_rest.sub_(h_BChw);
            result.Add((toFhat ? f_hat.clone() : idx_N.reshape(B, ph * pw)).MoveToOuterDisposeScope());
        }
        foreach (var t in result) scope.MoveToOuter(t);
        return result;
    }

    /// <summary>
    /// Teacher-forcing input of the transformer from ground-truth tokens: for every scale but the first, the f_hat
    /// accumulated from the earlier scales, area-downsampled to that scale: [B, L - first_l, C] (null for one scale).
    /// </summary>
    public Tensor? IdxBlToVarInput(IReadOnlyList<Tensor> gt_ms_idx_Bl)
    {
        int SN = _vPatchNums.Length;
        if (gt_ms_idx_Bl.Count < SN - 1) throw new ArgumentException($"Expected at least {SN - 1} token maps, got {gt_ms_idx_Bl.Count}.");
        if (SN == 1) return null;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long B = gt_ms_idx_Bl[0].shape[0];
        int H = _vPatchNums[^1], W = H;
        var f_hat = zeros([B, Cvae, H, W], ScalarType.Float32, gt_ms_idx_Bl[0].device);
        var nextScales = new List<Tensor>();
        int pnNext = _vPatchNums[0];
        for (int si = 0; si < SN - 1; si++)
        {
            CheckTokens(gt_ms_idx_Bl[si], B, pnNext, si);
            var h_BChw = F.interpolate(
                _embedding.call(gt_ms_idx_Bl[si]).transpose(1, 2).reshape(B, Cvae, pnNext, pnNext),
                [H, W], mode: InterpolationMode.Bicubic, align_corners: false);
            f_hat.add_(PhiFor(si, SN).call(h_BChw));
            pnNext = _vPatchNums[si + 1];
            nextScales.Add(F.interpolate(f_hat, [pnNext, pnNext], mode: InterpolationMode.Area).view(B, Cvae, -1).transpose(1, 2));
        }
        return cat(nextScales, 1).MoveToOuterDisposeScope();   // [B, L - first_l, C]
    }

    /// <summary>
    /// One generation step: adds scale <paramref name="si"/>'s codebook vectors <paramref name="h_BChw"/> [B, C, pn, pn]
    /// to <paramref name="f_hat"/> (bicubic to H x W, then that scale's Phi) and returns the next scale's input, f_hat
    /// area-downsampled to the next size.
    /// </summary>
    /// <returns>
    /// f_hat: the same tensor as the argument, updated in place. next: a new [B, C, pn_next, pn_next] tensor owned by
    /// the caller, except at the last scale, where (as in the reference) it is f_hat itself.
    /// </returns>
    public (Tensor f_hat, Tensor next_BChw) GetNextAutoregressiveInput(int si, int SN, Tensor f_hat, Tensor h_BChw)
    {
        if (SN != _vPatchNums.Length) throw new ArgumentException($"SN={SN} but the quantiser has {_vPatchNums.Length} scales.");
        using var _ = no_grad();
        int HW = _vPatchNums[^1];
        if (si != SN - 1)
        {
            using var up = F.interpolate(h_BChw, [HW, HW], mode: InterpolationMode.Bicubic, align_corners: false);   // conv after upsample
            using (var h = PhiFor(si, SN).call(up)) f_hat.add_(h);
            int pn = _vPatchNums[si + 1];
            return (f_hat, F.interpolate(f_hat, [pn, pn], mode: InterpolationMode.Area));
        }
        using (var h = PhiFor(si, SN).call(h_BChw)) f_hat.add_(h);
        return (f_hat, f_hat);
    }

    /// <summary>Codebook vectors of one scale's tokens [B, l] as a map [B, C, pn, pn] (l must be a square).</summary>
    public Tensor IdxToEmbedMap(Tensor idx_Bl)
    {
        long B = idx_Bl.shape[0], l = idx_Bl.shape[1];
        long pn = (long)Math.Round(Math.Sqrt(l));
        if (pn * pn != l) throw new ArgumentException($"A scale's token count must be a square, got {l}.");
        using var _ = no_grad();
        using var e_BlC = _embedding.call(idx_Bl);
        return e_BlC.transpose(1, 2).reshape(B, Cvae, pn, pn);
    }

    private void CheckLatent(Tensor f_BChw, int H, int W)
    {
        if (f_BChw.Dimensions != 4 || f_BChw.shape[1] != Cvae || f_BChw.shape[2] != H || f_BChw.shape[3] != W)
            throw new ArgumentException($"Expected features [B, {Cvae}, {H}, {W}] for this schedule, got [{string.Join(", ", f_BChw.shape)}].");
    }

    private static void CheckTokens(Tensor idx_Bl, long B, int pn, int si)
    {
        if (idx_Bl.Dimensions != 2 || idx_Bl.shape[0] != B || idx_Bl.shape[1] != (long)pn * pn)
            throw new ArgumentException($"Scale {si}: expected tokens [{B}, {pn * pn}], got [{string.Join(", ", idx_Bl.shape)}].");
    }
}
