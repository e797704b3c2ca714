// StarStudio's own stage (no reference file), after STAR's two: trains the detail head (StarConfig.DetailHeadFromScale,
// Transformers/DetailHead.cs) on the trained transformer, which stays frozen, as train_sampler.py does for the sampler
// head. Teacher forcing as in the STAR stage (the VQ-VAE's tokens of the training pictures, 10% empty prompts so the
// unconditional rows of CFG get a head too); the loss is the cross-entropy of head_logits + the detail head on the
// detail head's scales, each scale's mean weighted alike. The head's last conv starts at zero, so step 0's loss is the
// frozen transformer's own ("base_loss" in losses.csv, logged every step): the gap between the two is what the head adds.
// Shapes: B batch, l tokens of one scale, V vocabulary, C width.
using StarStudio.Model.Text;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Training;

public sealed class DetailTrainer : TrainerBase
{
    public const string StageName = "detail";
    /// <summary>State-dict prefix of the detail head inside the transformer.</summary>
    public const string HeadPrefix = "head_detail.";

    public static bool IsDetailHeadParameter(string name) => name.StartsWith(HeadPrefix, StringComparison.Ordinal);

    readonly VQVAE _vae;
    readonly StarTransformer _transformer;
    readonly WordTextEncoder _text;
    readonly AdamW _optim;
    readonly long _plainCode;

    public DetailTrainer(TrainOptions options, VQVAE? vae = null) : base(StageName, options)
    {
        if (Preset.Star.DetailHeadFromScale == 0)
            throw new InvalidOperationException($"Preset '{Preset.Name}' has no detail head (StarConfig.DetailHeadFromScale is 0): use one that has, such as shapes-detail.");
        _vae = vae ?? VqVaeTrainer.LoadTrained(options.RunFolder, Preset);
        _plainCode = _vae.Quantize.PreferredCode();
        manual_seed(options.Seed);   // the fresh head's hidden convs
        // The transformer of the last stage that trained it; the text encoder is trained (and saved) by the STAR stage only.
        (_transformer, var unusedText) = StarTrainer.LoadTrained(SourceFolder(options.RunFolder), Preset, loadText: false);
        unusedText.Dispose();
        var (unusedTransformer, text) = StarTrainer.LoadTrained(Path.Combine(options.RunFolder, StarTrainer.StageName), Preset);
        unusedTransformer.Dispose();
        _text = text;
        foreach (var p in _text.parameters()) p.requires_grad = false;
        foreach (var (name, p) in _transformer.named_parameters()) p.requires_grad = IsDetailHeadParameter(name);
        var pars = Named("transformer", _transformer).Where(p => IsDetailHeadParameter(p.Item1["transformer.".Length..]));
        _optim = new AdamW(pars, beta1: 0.9, beta2: 0.95, weightDecay: options.WeightDecay, noDecay: NoDecay);
    }

    /// <summary>The stage whose transformer the head is trained on: the sampler stage's when it ran (same main weights,
    /// a trained sampler head), else the STAR stage's.</summary>
    public static string SourceFolder(string runFolder)
    {
        var sampler = Path.Combine(runFolder, SamplerTrainer.StageName);
        return ReadInfo(sampler) is not null ? sampler : Path.Combine(runFolder, StarTrainer.StageName);
    }

    public StarTransformer Transformer => _transformer;
    public WordTextEncoder TextEncoder => _text;
    protected override IReadOnlyList<(string Prefix, nn.Module Module)> CheckpointModules => [("transformer", _transformer)];
    protected override AdamW Optimizer => _optim;

    protected override StepResult TrainStep(int step, double lr)
    {
        using var scope = NewDisposeScope();
        var (x, captions) = ShapesBatches.Load(Train, (long)step * Options.BatchSize, Options.BatchSize);
        var prompts = DropPrompts(captions, step);
        int from = Preset.Star.DetailHeadFromScale, S = Preset.Star.NumScales, firstL = _transformer.FirstL;
        var inputs = new List<Tensor>();
        var hidden = new List<Tensor>();
        var baseLogits = new List<Tensor>();
        var truth = new List<Tensor>();
        _transformer.eval();
        using (no_grad())
        {
            var gt_idx_Bl = _vae.ImgToIdxBl(x);
            var x_BLCv = _vae.Quantize.IdxBlToVarInput(gt_idx_Bl)!;
            var enc = _text.Encode(prompts);
            // Without the head, Forward's logits are the frozen transformer's own (head_logits alone).
            var (logits_BLV, h_BLC) = _transformer.Forward(x_BLCv, new TextConditioning(enc.HiddenStates, enc.AttentionMask, enc.Pooled), withDetailHead: false);
            for (int si = from; si < S; si++)
            {
                var (b, e) = _transformer.ScaleRange(si);
                inputs.Add(_transformer.ScaleInput(x_BLCv.narrow(1, b - firstL, e - b), si));
                hidden.Add(h_BLC.narrow(1, b, e - b));
                baseLogits.Add(logits_BLV.narrow(1, b, e - b));
                truth.Add(gt_idx_Bl[si].to_type(ScalarType.Int64));
            }
        }
        _transformer.train();
        var losses = new List<Tensor>();
        var logits = new List<Tensor>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var logits_BlV = baseLogits[i] + _transformer.DetailLogits(inputs[i], hidden[i], from + i);
            logits.Add(logits_BlV);
            losses.Add(F.cross_entropy(logits_BlV.flatten(0, 1), truth[i].flatten()));
        }
        var loss = stack(losses).mean();
        _optim.ZeroGrad();
        loss.backward();
        double gradNorm = _optim.ClipGradNorm(Options.GradClip);
        _optim.Step(lr);

        using var _ = no_grad();
        var baseLoss = stack([.. baseLogits.Zip(truth, (l, t) => F.cross_entropy(l.flatten(0, 1), t.flatten()))]).mean().item<float>();
        // The last scale, where ShapesWorld's shapes are drawn: accuracy on its detail codes (truth not the plain code).
        var lastTruth = truth[^1];
        var detail = lastTruth.ne(_plainCode).to_type(ScalarType.Float32);
        float DetailAccuracy(Tensor l) => (l.argmax(-1).eq(lastTruth).to_type(ScalarType.Float32) * detail).sum().item<float>() / Math.Max(1f, detail.sum().item<float>());
        return new StepResult(loss.item<float>(), new Dictionary<string, double>
        {
            ["base_loss"] = baseLoss,
            ["acc_detail_tail"] = DetailAccuracy(logits[^1]) * 100,
            ["base_acc_detail_tail"] = DetailAccuracy(baseLogits[^1]) * 100,
            ["grad_norm"] = gradNorm,
        });
    }

    public override void Dispose()
    {
        base.Dispose();
        _transformer.Dispose();
        _text.Dispose();
        _vae.Dispose();
    }
}
