using StarStudio.Model.Imaging;
using StarStudio.Model.Text;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using static TorchSharp.torch;

namespace StarStudio.Model.Generation;

/// <summary>
/// A loaded generator: the scale-wise transformer, the VQ-VAE that turns its tokens into pixels, and (for STAR) the
/// text encoder. Kept as three separate modules so the VQ-VAE never enters the transformer's state dict.
/// </summary>
public sealed class ScaleWiseModel : IDisposable
{
    public ScaleWiseModel(string name, IScaleWiseTransformer transformer, VQVAE vae, ITextEncoder? textEncoder,
        int numClasses, int stableSamplerFromScale, Device device, bool ownsModules = true)
    {
        _ownsModules = ownsModules;
        Name = name;
        Transformer = transformer;
        Vae = vae;
        TextEncoder = textEncoder;
        Device = device;
        SamplerHead = transformer as IStableSamplerHead is { } head && HasSamplerHead(transformer) ? head : null;
        StableSamplerFromScale = stableSamplerFromScale;
        bool quirk = transformer is StarTransformer { Config.CrossAttentionBatchQuirk: true };
        Limits = new ModelLimits(transformer.VocabSize, textEncoder is not null, numClasses, SamplerHead is not null, transformer.PatchNums,
            MaxRows: quirk ? 1 : GenerationValidator.MaxBatch);
        if (transformer.Cvae != vae.Quantize.Embedding.weight!.shape[1] || transformer.VocabSize != vae.Quantize.Embedding.weight!.shape[0])
            throw new ArgumentException(
                $"Transformer (V={transformer.VocabSize}, Cvae={transformer.Cvae}) and VQ-VAE codebook [{string.Join(", ", vae.Quantize.Embedding.weight!.shape)}] don't match.");
        // The pipeline walks the transformer's schedule while the quantiser adds each scale to f_hat by its own: a
        // different schedule would fail at the first scale (a count) or, worse, silently upsample to the wrong sides.
        if (!transformer.PatchNums.SequenceEqual(vae.Quantize.VPatchNums))
            throw new ArgumentException(
                $"Transformer scales ({string.Join(", ", transformer.PatchNums)}) and VQ-VAE scales ({string.Join(", ", vae.Quantize.VPatchNums)}) don't match: " +
                "the VQ-VAE config's v_patch_nums must be the transformer's patch_nums.");
    }

    readonly bool _ownsModules;

    public string Name { get; }
    public IScaleWiseTransformer Transformer { get; }
    public VQVAE Vae { get; }
    public ITextEncoder? TextEncoder { get; }
    public IStableSamplerHead? SamplerHead { get; }
    /// <summary>First scale index the stable sampler applies to (the reference's sample_from_idx, 9 for STAR).</summary>
    public int StableSamplerFromScale { get; }
    public Device Device { get; }
    public ModelLimits Limits { get; }

    /// <summary>
    /// The settings this model samples best with (model.json "sampling", or its official preset's), fitted to the model
    /// when loaded (<see cref="Presets.SamplingDefaults.FitTo"/>); null: none given.
    /// </summary>
    public Presets.SamplingDefaults? Recommended { get; set; }

    static bool HasSamplerHead(IScaleWiseTransformer t) => t is StarTransformer star && star.Config.StableSamplerHead;

    /// <summary>Builds the transformer's conditioning for a request: B conditional rows, then B unconditional ones when guided.</summary>
    internal PreparedConditioning Condition(GenerationRequest request, bool guided)
    {
        using var noGrad = no_grad();
        if (TextEncoder is { } encoder)
        {
            var prompts = request.Prompts.ToList();
            string uncond = request.NegativePrompt ?? "";
            if (guided) prompts.AddRange(Enumerable.Repeat(uncond, request.Rows));
            using var scope = NewDisposeScope();
            var enc = encoder.Encode(prompts);
            var cond = new TextConditioning(enc.HiddenStates.to(Device), enc.AttentionMask.to(Device), enc.Pooled.to(Device));
            var notices = Notices(request, enc.Reports, encoder);
            cond.HiddenStates.DetachFromDisposeScope();
            cond.AttentionMask.DetachFromDisposeScope();
            cond.Pooled.DetachFromDisposeScope();
            return new PreparedConditioning(cond, notices, [cond.HiddenStates, cond.AttentionMask, cond.Pooled]);
        }
        var labels = request.ClassLabels.Select(c => (long)c).ToList();
        if (guided) labels.AddRange(Enumerable.Repeat((long)Limits.NumClasses, request.Rows));
        var labelTensor = tensor(labels.ToArray(), device: Device).DetachFromDisposeScope();
        return new PreparedConditioning(new ClassConditioning(labelTensor), [], [labelTensor]);
    }

    static IReadOnlyList<string> Notices(GenerationRequest request, IReadOnlyList<PromptReport> reports, ITextEncoder encoder)
    {
        var notices = new List<string>();
        // Rows 0..B-1 are the prompts; row B (if any) is the first copy of the negative/empty prompt.
        for (int i = 0; i < Math.Min(reports.Count, request.Rows + 1); i++)
        {
            string which = i == request.Rows ? "The negative prompt" : request.Rows > 1 ? $"Prompt {i + 1}" : "The prompt";
            var r = reports[i];
            if (r.Truncated) notices.Add($"{which} has {r.TokenCount} tokens; the text encoder reads at most {encoder.MaxTokens - 2}, so the rest was ignored.");
            if (r.UnknownWords.Count > 0)
                notices.Add($"{which}: the model doesn't know the word{(r.UnknownWords.Distinct().Count() > 1 ? "s" : "")} {string.Join(", ", r.UnknownWords.Distinct().Select(w => $"'{w}'"))}.");
        }
        return notices;
    }

    /// <summary>Makes per-scale previews (full, reduced or approximate decodes of f_hat).</summary>
    public PreviewDecoder Previews => _previews ??= new PreviewDecoder(Vae);
    PreviewDecoder? _previews;

    /// <summary>f_hat [B, Cvae, P, P] to RGB images ([-1, 1] mapped to [0, 1] as the reference); null for PreviewMode.None.</summary>
    public IReadOnlyList<RgbImage>? Decode(Tensor f_hat_BCPP, PreviewMode mode = PreviewMode.Full)
    {
        using var scope = NewDisposeScope();
        return Previews.Decode(f_hat_BCPP, mode) is { } img ? TensorImages.ToRgb(img) : null;
    }

    public void Dispose()
    {
        if (!_ownsModules) return;
        _previews?.Dispose();
        (Transformer as IDisposable)?.Dispose();
        Vae.Dispose();
        (TextEncoder as IDisposable)?.Dispose();
    }
}

/// <summary>The conditioning of one run plus the notices for the user; owns its tensors.</summary>
internal sealed class PreparedConditioning(ScaleConditioning conditioning, IReadOnlyList<string> notices, Tensor[] owned) : IDisposable
{
    public ScaleConditioning Conditioning { get; } = conditioning;
    public IReadOnlyList<string> Notices { get; } = notices;
    public void Dispose() { foreach (var t in owned) t.Dispose(); }
}
