// Second stage of STAR: the causal-driven stable sampler head alone (STAR-T2I train_sampler.py and
// trainer.train_sampler_masked, var_drop.forward_sampler). The main transformer runs teacher-forced under no_grad;
// the head sees the ground-truth codebook vectors of the scales from sample_from_idx on, each token shown with
// probability 1 - arccos(r)/(pi/2) for a per-image r ~ U(0,1) (mask_utils.add_mask_for_training), and learns to predict
// the hidden ones. The reference's extra "masked" logit makes shown tokens a constant term; here the loss is simply
// the cross-entropy averaged over hidden tokens.
// Shapes: B batch, n tokens of the sampler's scales, V vocabulary, Cvae codebook width.
using StarStudio.Model.Generation;
using StarStudio.Model.Text;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Training;

public sealed class SamplerTrainer : TrainerBase
{
    public const string StageName = "sampler";

    readonly VQVAE _vae;
    readonly StarTransformer _transformer;
    readonly WordTextEncoder _text;
    readonly AdamW _optim;

    public SamplerTrainer(TrainOptions options, VQVAE? vae = null) : base(StageName, options)
    {
        _vae = vae ?? VqVaeTrainer.LoadTrained(options.RunFolder, Preset);
        (_transformer, _text) = StarTrainer.LoadTrained(Path.Combine(options.RunFolder, StarTrainer.StageName), Preset);
        // Checkpoints written before StarTrainer sanitised its initialisation may hold a NaN in the (untrained) head.
        StarTrainer.ReplaceNonFinite(_transformer);
        foreach (var p in _text.parameters()) p.requires_grad = false;
        foreach (var (name, p) in _transformer.named_parameters()) p.requires_grad = StarTrainer.IsSamplerHeadParameter(name);
        var pars = Named("transformer", _transformer).Where(p => StarTrainer.IsSamplerHeadParameter(p.Item1["transformer.".Length..]));
        _optim = new AdamW(pars, beta1: 0.9, beta2: 0.95, weightDecay: options.WeightDecay, noDecay: NoDecay);
    }

    public StarTransformer Transformer => _transformer;
    public WordTextEncoder TextEncoder => _text;
    protected override IReadOnlyList<(string Prefix, nn.Module Module)> CheckpointModules => [("transformer", _transformer)];
    protected override AdamW Optimizer => _optim;

    /// <summary>add_mask_for_training: 1 = shown (committed), 0 = hidden; per image a share arccos(r)/(pi/2) is shown.</summary>
    public static Tensor TrainingMask(long B, long n)
    {
        using var scope = NewDisposeScope();
        var r = rand(B);
        var share = r.arccos().div_(Math.PI / 2);
        return rand(B, n).lt(share.view(B, 1)).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    protected override StepResult TrainStep(int step, double lr)
    {
        using var scope = NewDisposeScope();
        var (x, captions) = ShapesBatches.Load(Train, (long)step * Options.BatchSize, Options.BatchSize);
        Tensor x_BLCv, gt_Bn, embed_BnCv;
        TextConditioning cond;
        var (bg, _) = _transformer.ScaleRange(Preset.Star.SampleFromIdx);
        using (no_grad())
        {
            var gt_idx_Bl = _vae.ImgToIdxBl(x);
            var gt_BL = cat([.. gt_idx_Bl], 1);
            gt_Bn = gt_BL.narrow(1, bg, gt_BL.shape[1] - bg);
            embed_BnCv = _vae.Quantize.Embedding.call(gt_Bn);
            x_BLCv = _vae.Quantize.IdxBlToVarInput(gt_idx_Bl)!;
            var enc = _text.Encode(captions);
            cond = new TextConditioning(enc.HiddenStates, enc.AttentionMask, enc.Pooled);
        }
        long B = gt_Bn.shape[0], n = gt_Bn.shape[1];
        var mask_Bn = TrainingMask(B, n);
        _transformer.train();
        var logits_BnV = _transformer.ForwardSampler(x_BLCv, cond, embed_BnCv, mask_Bn);
        long V = logits_BnV.shape[2];
        var hidden_Bn = mask_Bn.eq(0).to_type(ScalarType.Float32);
        var ce_Bn = F.cross_entropy(logits_BnV.reshape(B * n, V), gt_Bn.reshape(B * n), reduction: nn.Reduction.None).view(B, n);
        var loss = HiddenLoss(ce_Bn, hidden_Bn, Preset.Star.PatchNums.Skip(Preset.Star.SampleFromIdx).ToList(), Options.ScaleWeighting);
        _optim.ZeroGrad();
        loss.backward();
        double gradNorm = _optim.ClipGradNorm(Options.GradClip);
        _optim.Step(lr);

        using var _ = no_grad();
        var correct = logits_BnV.argmax(-1).eq(gt_Bn).to_type(ScalarType.Float32);
        double acc = ((correct * hidden_Bn).sum() / hidden_Bn.sum().clamp_min(1)).item<float>();
        return new StepResult(loss.item<float>(), new Dictionary<string, double>
        {
            ["acc_hidden"] = acc * 100,
            ["shown"] = mask_Bn.to_type(ScalarType.Float32).mean().item<float>() * 100,
            ["grad_norm"] = gradNorm,
        });
    }

    /// <summary>
    /// Cross-entropy over the hidden tokens. Uniform (the reference): every hidden token alike, so a head from the 3x3
    /// scale on gets 9 of its 525 tokens from the layout scale. PerScale: each scale's mean over its hidden tokens,
    /// the scales averaged, so the coarse scales, where the head must decide how many objects a picture holds, weigh
    /// as much as the 16x16 scale.
    /// </summary>
    public static Tensor HiddenLoss(Tensor ce_Bn, Tensor hidden_Bn, IReadOnlyList<int> patchNums, ScaleLossWeighting weighting)
    {
        if (weighting == ScaleLossWeighting.Uniform)
            return (ce_Bn * hidden_Bn).sum() / hidden_Bn.sum().clamp_min(1);
        int tokens = patchNums.Sum(pn => pn * pn);
        if (tokens != ce_Bn.shape[1]) throw new ArgumentException($"The scales hold {tokens} tokens, the loss {ce_Bn.shape[1]}.");
        using var scope = NewDisposeScope();
        var perScale = new List<Tensor>();
        int begin = 0;
        foreach (int pn in patchNums)
        {
            int l = pn * pn;
            var h = hidden_Bn.narrow(1, begin, l);
            perScale.Add((ce_Bn.narrow(1, begin, l) * h).sum() / h.sum().clamp_min(1));
            begin += l;
        }
        return stack(perScale).mean().MoveToOuterDisposeScope();
    }

    protected override void WriteSamples(string path) =>
        SampleGrid.Write(path, new ScaleWiseModel(Preset.Name, _transformer, _vae, _text, Preset.Star.NumClasses, Preset.Star.SampleFromIdx, CPU, ownsModules: false),
            Preset, Options.Seed, stable: true, restore: () => _transformer.train());

    public override void Dispose()
    {
        base.Dispose();
        _transformer.Dispose();
        _text.Dispose();
        _vae.Dispose();
    }
}
