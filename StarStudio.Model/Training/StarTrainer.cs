// Teacher-forced training of the STAR transformer, following STAR-T2I trainer.py (train_step): image -> VQ tokens of
// every scale -> idxBl_to_var_input -> forward with the scale-causal mask -> cross-entropy over all L tokens with
// uniform weights. The word text encoder is trained jointly (STAR freezes CLIP; ours starts from nothing), and 10% of
// captions are replaced by "" so classifier-free guidance has an unconditional model.
// Shapes: B batch, L all tokens, V vocabulary, Cvae codebook width.
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using StarStudio.Model.Shapes;
using StarStudio.Model.Text;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Training;

public sealed class StarTrainer : TrainerBase
{
    public const string StageName = "star";

    /// <summary>Parameter names (prefixes) of the stable-sampler head; the main stage leaves them alone.</summary>
    public static readonly IReadOnlyList<string> SamplerHeadPrefixes =
        ["word_embed_head.", "feat_extract_blocks.", "pos_start_last", "head_logits2.", "encoder_proj2.", "head_proj.", "lvl_embed_2."];

    public static bool IsSamplerHeadParameter(string name) => SamplerHeadPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal));

    readonly VQVAE _vae;
    readonly StarTransformer _transformer;
    readonly WordTextEncoder _text;
    readonly PromptProbe? _probe;
    readonly Tensor _tokenWeights_L;
    readonly AdamW _optim;

    public StarTrainer(TrainOptions options, VQVAE? vae = null) : base(StageName, options)
    {
        _vae = vae ?? VqVaeTrainer.LoadTrained(options.RunFolder, Preset);
        manual_seed(options.Seed);
        _transformer = new StarTransformer(Preset.Star);
        _transformer.InitWeights(initStd: -1);
        if (Preset.Star.CodebookHead > 0) _transformer.TieHeadToCodebook(_vae.Quantize.Embedding.weight!, _vae.Quantize.PreferredCode());
        ReplaceNonFinite(_transformer);
        _text = new WordTextEncoder(ShapesModelPreset.Tokenizer(), Preset.Text);
        if (options.PromptProbeWeight > 0) _probe = new PromptProbe(Preset.Text.Dim);
        _tokenWeights_L = TokenWeights(Preset.Star.PatchNums, options.ScaleWeighting).DetachFromDisposeScope();
        _transformer.train();
        _text.train();
        // The sampler and detail heads have stages of their own, on the trained transformer.
        var pars = Named("transformer", _transformer).Where(p => !IsSamplerHeadParameter(p.Item1["transformer.".Length..])
                                                              && !DetailTrainer.IsDetailHeadParameter(p.Item1["transformer.".Length..]))
            .Concat(Named("text", _text));
        if (_probe is not null) pars = pars.Concat(Named("probe", _probe));
        _optim = new AdamW(pars, beta1: 0.9, beta2: 0.95, weightDecay: options.WeightDecay, noDecay: NoDecay);
    }

    public StarTransformer Transformer => _transformer;
    public WordTextEncoder TextEncoder => _text;
    public VQVAE Vae => _vae;

    /// <summary>
    /// Sets NaN/inf parameter entries to 0 and returns how many there were: a guard kept from a run whose freshly
    /// initialised sampler head held one NaN in 65536 entries (TorchSharp's trunc_normal_, since replaced by
    /// <see cref="TruncNormal"/>), which poisons every forward through that layer.
    /// </summary>
    public static long ReplaceNonFinite(nn.Module module)
    {
        long count = 0;
        using var _ = no_grad();
        foreach (var p in module.parameters())
        {
            using var bad = p.isfinite().logical_not();
            long n = bad.sum().item<long>();
            if (n == 0) continue;
            count += n;
            p.masked_fill_(bad, 0);
        }
        return count;
    }
    protected override IReadOnlyList<(string Prefix, nn.Module Module)> CheckpointModules =>
        _probe is null ? [("transformer", _transformer), ("text", _text)] : [("transformer", _transformer), ("text", _text), ("probe", _probe)];
    protected override AdamW Optimizer => _optim;

    protected override StepResult TrainStep(int step, double lr)
    {
        using var scope = NewDisposeScope();
        var (x, captions) = ShapesBatches.Load(Train, (long)step * Options.BatchSize, Options.BatchSize);
        var prompts = DropPrompts(captions, step);
        Tensor x_BLCv, gt_BL;
        using (no_grad())
        {
            var gt_idx_Bl = _vae.ImgToIdxBl(x);
            gt_BL = cat([.. gt_idx_Bl], 1);
            x_BLCv = _vae.Quantize.IdxBlToVarInput(gt_idx_Bl)!;
        }
        _transformer.train();
        _text.train();
        var enc = _text.Encode(prompts);
        var cond = new TextConditioning(enc.HiddenStates, enc.AttentionMask, enc.Pooled);
        var (logits_BLV, hidden) = _transformer.Forward(x_BLCv, cond, withDetailHead: false);   // the detail head has its own stage
        long B = logits_BLV.shape[0], L = logits_BLV.shape[1], V = logits_BLV.shape[2];
        var ce_BL = F.cross_entropy(logits_BLV.reshape(B * L, V), gt_BL.reshape(B * L), reduction: nn.Reduction.None).view(B, L);
        var loss = ce_BL.mul(_tokenWeights_L).sum(1).mean();
        double probeAcc = double.NaN;
        if (_probe is not null)
        {
            var (probeLoss, bgAcc) = _probe.Loss(enc.Pooled, prompts);
            loss = loss + probeLoss * Options.PromptProbeWeight;
            probeAcc = bgAcc * 100;
        }
        _optim.ZeroGrad();
        loss.backward();
        double gradNorm = _optim.ClipGradNorm(Options.GradClip);
        _optim.Step(lr);

        using var _ = no_grad();
        var (bg, ed) = _transformer.ScaleRange(Preset.Star.NumScales - 1);
        var pred = logits_BLV.argmax(-1);
        var acc = pred.eq(gt_BL).to_type(ScalarType.Float32).mean().item<float>();
        var accTail = pred.narrow(1, bg, ed - bg).eq(gt_BL.narrow(1, bg, ed - bg)).to_type(ScalarType.Float32).mean().item<float>();
        var lossTail = F.cross_entropy(logits_BLV.narrow(1, bg, ed - bg).reshape(-1, V), gt_BL.narrow(1, bg, ed - bg).reshape(-1)).item<float>();
        return new StepResult(loss.item<float>(), new Dictionary<string, double>
        {
            ["acc"] = acc * 100,
            ["acc_tail"] = accTail * 100,
            ["loss_tail"] = lossTail,
            ["grad_norm"] = gradNorm,
            ["probe_bg_acc"] = probeAcc,
        });
    }

    /// <summary>Per-token loss weights [L] summing to 1 (see <see cref="ScaleLossWeighting"/>).</summary>
    public static Tensor TokenWeights(IReadOnlyList<int> patchNums, ScaleLossWeighting weighting)
    {
        var layout = new ScaleLayout(patchNums);
        var w = new float[layout.L];
        for (int si = 0; si < patchNums.Count; si++)
        {
            int l = layout.End[si] - layout.Begin[si];
            Array.Fill(w, weighting == ScaleLossWeighting.PerScale ? 1f / (patchNums.Count * l) : 1f / layout.L, layout.Begin[si], l);
        }
        return tensor(w);
    }

    protected override void WriteSamples(string path) =>
        SampleGrid.Write(path, new ScaleWiseModel(Preset.Name, _transformer, _vae, _text, Preset.Star.NumClasses, Preset.Star.SampleFromIdx, CPU, ownsModules: false),
            Preset, Options.Seed, stable: false, restore: () => { _transformer.train(); _text.train(); });

    /// <summary>Loads the "transformer" and "text" weights of a stage checkpoint into fresh modules (inference mode).</summary>
    public static (StarTransformer Transformer, WordTextEncoder Text) LoadTrained(string stageFolder, ShapesModelPreset preset, bool loadText = true)
    {
        var path = Path.Combine(stageFolder, CheckpointFile);
        if (!File.Exists(path)) throw new InvalidOperationException($"No checkpoint in {stageFolder}: run the stage first.");
        var transformer = new StarTransformer(preset.Star);
        var text = new WordTextEncoder(ShapesModelPreset.Tokenizer(), preset.Text);
        using var sd = Checkpoints.CheckpointFile.ReadStateDict(path);
        // A checkpoint from before the preset's detail head was trained has none: the head starts fresh, and its last
        // conv is zero, so the model computes what the checkpoint did (DetailTrainer trains it from there).
        bool withoutDetailHead = preset.Star.DetailHeadFromScale > 0 && !sd.Keys.Any(k => k.StartsWith("transformer." + DetailTrainer.HeadPrefix, StringComparison.Ordinal));
        LoadModules(sd, loadText ? [("transformer", transformer), ("text", text)] : [("transformer", transformer)],
            withoutDetailHead ? StateDictLoadOptions.Default with { IgnorePrefixes = [DetailTrainer.HeadPrefix] } : null);
        transformer.eval();
        text.eval();
        return (transformer, text);
    }

    public override void Dispose()
    {
        base.Dispose();
        _transformer.Dispose();
        _text.Dispose();
        _probe?.Dispose();
        _tokenWeights_L.Dispose();
        _vae.Dispose();
    }
}
