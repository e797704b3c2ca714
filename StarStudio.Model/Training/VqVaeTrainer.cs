// Trains the multi-scale VQ-VAE on ShapesWorld through VAR models/vqvae.py's training forward (straight-through
// residual quantiser, VQ loss = beta * commitment + codebook term); the reconstruction loss (L1 + MSE, no perceptual
// or GAN terms) and dead-code restarts are StarStudio's own choices for a tiny codebook on flat-coloured pictures.
// Shapes: B batch, C = Cvae, H W latent side, N = B*h*w vectors of one scale.
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
        _vae = new VQVAE(Preset.Vae with { TestMode = false });
        _vae.train();
        _optim = new AdamW(Named("vqvae", _vae), beta1: 0.9, beta2: 0.95, weightDecay: options.WeightDecay, noDecay: NoDecay);
    }

    public VQVAE Vae => _vae;
    protected override IReadOnlyList<(string Prefix, nn.Module Module)> CheckpointModules => [("vqvae", _vae)];
    protected override AdamW Optimizer => _optim;

    protected override StepResult TrainStep(int step, double lr)
    {
        using var scope = NewDisposeScope();
        var (x, _) = ShapesBatches.Load(Train, (long)step * Options.BatchSize, Options.BatchSize);
        _vae.train();
        var outp = _vae.forward(x, true);
        var rec = outp.Rec_B3HW;
        var mse = F.mse_loss(rec, x);
        var l1 = F.l1_loss(rec, x);
        var loss = l1 + mse + outp.VqLoss;
        _optim.ZeroGrad();
        loss.backward();
        double gradNorm = _optim.ClipGradNorm(Options.GradClip);
        _optim.Step(lr);
        int restarted = (step + 1) % RestartEvery == 0 ? RestartDeadCodes(x) : 0;
        double mseV = mse.item<float>();
        return new StepResult(loss.item<float>(), new Dictionary<string, double>
        {
            ["mse"] = mseV,
            ["psnr"] = 10 * Math.Log10(4.0 / Math.Max(mseV, 1e-12)),
            ["vq"] = outp.VqLoss.item<float>(),
            ["usage"] = outp.Usages!.Average(),
            ["grad_norm"] = gradNorm,
            ["restarted"] = restarted,
        });
    }

    /// <summary>
    /// Codes that no position of the current batch picks, at any scale, are moved onto random residual vectors of the
    /// batch (drawn from every scale), so a small codebook does not collapse onto a few entries.
    /// </summary>
    int RestartDeadCodes(Tensor x)
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
        var hits_V = zeros(q.VocabSize);
        for (int si = 0; si < pn.Count; si++)
        {
            int p = pn[si];
            var z_NC = (si != pn.Count - 1 ? F.interpolate(f_rest, [p, p], mode: InterpolationMode.Area) : f_rest).permute(0, 2, 3, 1).reshape(-1, C);
            pool.Add(z_NC);
            var idx = q.NearestIndices(z_NC);
            hits_V.add_(idx.bincount(null, q.VocabSize).to_type(ScalarType.Float32));
            var h = q.Embedding.call(idx.view(B, p, p)).permute(0, 3, 1, 2);
            if (si != pn.Count - 1) h = F.interpolate(h, [H, W], mode: InterpolationMode.Bicubic, align_corners: false);
            f_rest = f_rest - q.PhiFor(si, pn.Count).call(h.contiguous());
        }
        var dead = hits_V.eq(0).nonzero().view(-1);
        int nDead = (int)dead.shape[0];
        if (nDead == 0) return 0;
        var all = cat(pool, 0);
        var pick = randint(all.shape[0], [nDead]);
        var weight = q.Embedding.weight!;
        weight.index_copy_(0, dead, all.index_select(0, pick) + randn(nDead, C) * 1e-3);
        return nDead;
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
