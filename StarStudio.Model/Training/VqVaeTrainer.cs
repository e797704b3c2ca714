// Trains the multi-scale VQ-VAE on ShapesWorld through VAR models/vqvae.py's training forward (straight-through
// residual quantiser, VQ loss = beta * commitment + codebook term); the reconstruction loss (L1 + MSE, object pixels
// weighted 5x, no perceptual or GAN terms) and dead-code restarts are StarStudio's own choices for a tiny codebook on
// flat-coloured pictures.
// Shapes: B batch, C = Cvae, H W latent side, N = B*h*w vectors of one scale.
using StarStudio.Model.Imaging;
using StarStudio.Model.Shapes;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Training;

public sealed class VqVaeTrainer : TrainerBase
{
    public const string StageName = "vqvae";
    /// <summary>Steps between dead-code restarts.</summary>
    public const int RestartEvery = 10;

    readonly VQVAE _vae;
    readonly AdamW _optim;

    public VqVaeTrainer(TrainOptions options) : base(StageName, options)
    {
        manual_seed(options.Seed);
        // Plain nearest codes while the codebook forms: the preferred-code bias is a choice of how finished
        // tokenizers read pictures (STAR's training data, the ceiling), measured on a VQ-VAE trained without it.
        _vae = new VQVAE(Preset.Vae with { TestMode = false, PreferredCodeBias = 0 });
        // VAR quant.py eini(-1): a near-zero codebook, so early scales do not add large random vectors to f_hat;
        // dead-code restarts then move entries onto real residuals.
        using (no_grad()) _vae.Quantize.Embedding.weight!.uniform_(-1.0 / Preset.Vae.VocabSize, 1.0 / Preset.Vae.VocabSize);
        _vae.train();
        _optim = new AdamW(Named("vqvae", _vae), beta1: 0.9, beta2: 0.95, weightDecay: options.WeightDecay, noDecay: NoDecay);
    }

    public VQVAE Vae => _vae;
    protected override IReadOnlyList<(string Prefix, nn.Module Module)> CheckpointModules => [("vqvae", _vae)];
    protected override AdamW Optimizer => _optim;

    /// <summary>
    /// Steps trained as a plain autoencoder (decoder on the continuous latent) before the quantiser is switched on: the
    /// pixels path learns in a few hundred steps, then the codebook starts from residuals of useful features.
    /// </summary>
    public int ContinuousSteps => (int)(Options.Steps * 0.3);

    protected override StepResult TrainStep(int step, double lr)
    {
        using var scope = NewDisposeScope();
        var (x, _) = ShapesBatches.Load(Train, (long)step * Options.BatchSize, Options.BatchSize);
        _vae.train();
        bool quantise = step >= ContinuousSteps;
        int restarted = 0;
        double fRms = double.NaN, errRms = double.NaN;
        // The first quantised step starts every code from the batch's residuals.
        if (quantise && step == ContinuousSteps) (restarted, fRms, errRms) = RestartDeadCodes(x);
        Tensor rec, vqLoss;
        IReadOnlyList<double>? usages = null;
        int keep = KeptScales(step);
        if (quantise)
        {
            var outp = _vae.ForwardKeeping(x, true, keep);
            (rec, vqLoss, usages) = (outp.Rec_B3HW, outp.VqLoss, outp.Usages);
        }
        else
        {
            var f = _vae.Features(x);
            rec = _vae.Decoder.call(_vae.PostQuantConv.call(VectorQuantizer2.LowPass(f, Preset.Vae.VPatchNums[keep - 1])));
            vqLoss = f.pow(2).mean() * 1e-3;   // keeps the latent from drifting to large values before it is quantised
        }
        var mse = F.mse_loss(rec, x);
        var weight = ObjectWeights(x);
        var diff = rec - x;
        var loss = ((diff.abs() + diff.square()) * weight).sum() / (weight.sum() * x.shape[1]) + vqLoss;
        _optim.ZeroGrad();
        loss.backward();
        double gradNorm = _optim.ClipGradNorm(Options.GradClip);
        _optim.Step(lr);
        if (quantise && step != ContinuousSteps && (step + 1) % RestartEvery == 0) (restarted, fRms, errRms) = RestartDeadCodes(x);
        double mseV = mse.item<float>();
        return new StepResult(loss.item<float>(), new Dictionary<string, double>
        {
            ["mse"] = mseV,
            ["psnr"] = 10 * Math.Log10(4.0 / Math.Max(mseV, 1e-12)),
            ["vq"] = quantise ? vqLoss.item<float>() : double.NaN,
            ["usage"] = usages?.Average() ?? double.NaN,
            ["grad_norm"] = gradNorm,
            ["restarted"] = restarted,
            ["f_rms"] = fRms,
            ["err_rms"] = errRms,
            ["kept_scales"] = keep,
        });
    }

    /// <summary>
    /// Scales this step reconstructs from: all of them, or with the preset's <see cref="ShapesModelPreset.VaeTruncation"/>
    /// probability only the first k, k uniform in [VaeTruncationMinScales, S - 1] (deterministic per step, so a resumed
    /// run draws the same).
    /// </summary>
    public int KeptScales(int step)
    {
        int S = Preset.Vae.VPatchNums.Count;
        if (Preset.VaeTruncation <= 0) return S;
        var rng = new Random((int)(StepSeed(step) & 0x7fffffff) ^ 0x5ca1e);
        return rng.NextDouble() < Preset.VaeTruncation ? rng.Next(Preset.VaeTruncationMinScales, S) : S;
    }

    /// <summary>Extra weight of object pixels in the reconstruction loss (background pixels weigh 1).</summary>
    public const double ObjectWeight = 4.0;

    /// <summary>
    /// Per-pixel loss weights [B, 1, H, W]: 1 + <see cref="ObjectWeight"/> where a pixel differs from its picture's
    /// median colour (the background covers most of every ShapesWorld picture). Objects are a few percent of the
    /// pixels, so an unweighted loss learns backgrounds first and leaves the shapes as blobs for hundreds of steps.
    /// </summary>
    public static Tensor ObjectWeights(Tensor x_B3HW)
    {
        using var scope = NewDisposeScope();
        long B = x_B3HW.shape[0], C = x_B3HW.shape[1];
        var background_BC11 = x_B3HW.flatten(2).quantile(tensor(0.5f), 2, true).view(B, C, 1, 1);
        var isObject = (x_B3HW - background_BC11).abs().sum(1, keepdim: true).gt(0.1).to_type(x_B3HW.dtype);
        return (isObject * ObjectWeight + 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Codes that no position of the current batch picks, at any scale, are moved onto residual vectors of the batch
    /// (drawn from every scale, badly served ones first), so a small codebook does not collapse onto a few entries.
    /// </summary>
    /// <returns>Codes moved, and the RMS of the features and of the final quantisation error (before the move).</returns>
    (int Restarted, double FRms, double ErrRms) RestartDeadCodes(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var q = _vae.Quantize;
        var pn = q.VPatchNums;
        long B = x.shape[0];
        // Residuals every scale quantises and the codes they pick (as FToIdxBlOrFhat computes them).
        var f = _vae.Features(x);
        long C = f.shape[1], H = f.shape[2], W = f.shape[3];
        var f_rest = f.clone();
        var pool = new List<Tensor>();
        var errors = new List<Tensor>();
        var hits_V = zeros(q.VocabSize);
        for (int si = 0; si < pn.Count; si++)
        {
            int p = pn[si];
            var z_NC = (si != pn.Count - 1 ? F.interpolate(f_rest, [p, p], mode: InterpolationMode.Area) : f_rest).permute(0, 2, 3, 1).reshape(-1, C);
            var idx = q.NearestIndices(z_NC);
            pool.Add(z_NC);
            errors.Add((z_NC - q.Embedding.weight!.index_select(0, idx)).square().sum(1));
            hits_V.add_(idx.bincount(null, q.VocabSize).to_type(ScalarType.Float32));
            var h = q.Embedding.call(idx.view(B, p, p)).permute(0, 3, 1, 2);
            if (si != pn.Count - 1) h = F.interpolate(h, [H, W], mode: InterpolationMode.Bicubic, align_corners: false);
            f_rest = f_rest - q.PhiFor(si, pn.Count).call(h.contiguous());
        }
        double fRms = f.pow(2).mean().sqrt().item<float>(), errRms = f_rest.pow(2).mean().sqrt().item<float>();
        var dead = hits_V.eq(0).nonzero().view(-1);
        int nDead = (int)dead.shape[0];
        if (nDead == 0) return (0, fRms, errRms);
        // Residuals drawn in proportion to their squared distance from the nearest code (k-means++ seeding): the
        // rare object residuals, which the background-dominated codebook serves worst, get the free codes.
        var all = cat(pool, 0);
        var error = cat(errors, 0);
        // Non-finite features (see AdamW.ClipGradNorm) would restart codes on NaN; wait for the next batch instead.
        if (!error.isfinite().all().item<bool>() || !all.isfinite().all().item<bool>()) return (0, fRms, errRms);
        var pick = multinomial(error + 1e-12, nDead, replacement: true);
        var weight = q.Embedding.weight!;
        weight.index_copy_(0, dead, all.index_select(0, pick) + randn(nDead, C) * 1e-3);
        return (nDead, fRms, errRms);
    }

    /// <summary>Originals of the validation split next to their reconstructions.</summary>
    protected override void WriteSamples(string path)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var val = new ShapesDataset((int)(Options.Seed & 0x7fffffff), ShapesSplit.Validation, Preset.ImageSize);
        var samples = Enumerable.Range(0, 8).Select(val.Sample).ToList();
        var x = ShapesBatches.ToTensor([.. samples.Select(s => s.Image)]);
        _vae.eval();
        var rec = _vae.ImgToReconstructedImg(x, lastOne: true)[0];
        _vae.train();
        var recImages = ShapesBatches.ToImages(rec);
        var items = new List<(RgbImage, string)>();
        for (int i = 0; i < samples.Count; i++)
        {
            items.Add((samples[i].Image, "original: " + samples[i].Text));
            items.Add((recImages[i], "reconstruction"));
        }
        ContactSheet.Write(path, items, columns: 4, tileSize: 128);
    }

    /// <summary>The trained VQ-VAE in inference mode (a copy through the state dict), for the next stages.</summary>
    public static VQVAE LoadTrained(string runFolder, ShapesModelPreset preset)
    {
        var folder = Path.Combine(runFolder, StageName);
        var path = Path.Combine(folder, CheckpointFile);
        if (!File.Exists(path)) throw new InvalidOperationException($"No trained VQ-VAE in {folder}: run `starstudio train vqvae` first.");
        var vae = new VQVAE(preset.Vae with { TestMode = true });
        using var sd = Checkpoints.CheckpointFile.ReadStateDict(path);
        LoadModules(sd, [("vqvae", vae)]);
        vae.eval();
        return vae;
    }

    public override void Dispose()
    {
        base.Dispose();
        _vae.Dispose();
    }
}
