// The multi-scale VQ-VAE (VAR's tokenizer, also STAR's); follows VAR models/vqvae.py (VQVAE).
// Shapes: B batch, C = Cvae, H W latent side of the largest scale, l tokens of one scale; images are [B, 3, H*f, W*f]
// in [-1, 1] with f the downsample factor (16 for the official model).
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Vae;

/// <summary>Result of the VAE training forward: reconstruction, per-scale codebook usage (percent) if asked, VQ loss.</summary>
public sealed record VqVaeOutput(Tensor Rec_B3HW, IReadOnlyList<double>? Usages, Tensor VqLoss);

/// <summary>
/// Encoder, multi-scale quantiser and decoder. A standalone module: the generation pipeline owns it beside the
/// transformer, never inside it, so its weights stay out of the transformer's state dict.
/// </summary>
public sealed class VQVAE : nn.Module<Tensor, bool, VqVaeOutput>
{
    [ComponentName(Name = "encoder")] private readonly Encoder _encoder;
    [ComponentName(Name = "decoder")] private readonly Decoder _decoder;
    [ComponentName(Name = "quantize")] private readonly VectorQuantizer2 _quantize;
    [ComponentName(Name = "quant_conv")] private readonly SafeConv2d _quantConv;
    [ComponentName(Name = "post_quant_conv")] private readonly SafeConv2d _postQuantConv;

    public const string EmaVocabHitKey = "quantize.ema_vocab_hit_SV";

    /// <param name="device">Where to allocate; <c>torch.META</c> builds the full-size module without memory (shape checks).</param>
    public VQVAE(VqVaeConfig config, Device? device = null) : base(nameof(VQVAE))
    {
        config.Validate();
        Config = config;
        _encoder = new Encoder(config, device);
        _decoder = new Decoder(config, device);
        _quantize = new VectorQuantizer2(config, device);
        int ks = config.QuantConvKs;
        _quantConv = new SafeConv2d(config.Cvae, config.Cvae, kernelSize: ks, stride: 1, padding: ks / 2, device: device);
        _postQuantConv = new SafeConv2d(config.Cvae, config.Cvae, kernelSize: ks, stride: 1, padding: ks / 2, device: device);
        RegisterComponents();

        if (config.TestMode)
        {
            eval();
            foreach (var p in parameters()) p.requires_grad = false;
        }
    }

    public VqVaeConfig Config { get; }
    public Encoder Encoder => _encoder;
    public Decoder Decoder => _decoder;
    public VectorQuantizer2 Quantize => _quantize;
    public SafeConv2d QuantConv => _quantConv;
    public SafeConv2d PostQuantConv => _postQuantConv;

    /// <summary>Pixels per latent cell along one side.</summary>
    public int Downsample => Config.DownsampleFactor;

    /// <summary>VAE training only: reconstruction through the straight-through quantiser.</summary>
    public override VqVaeOutput forward(Tensor inp_B3HW, bool retUsages) => ForwardKeeping(inp_B3HW, retUsages, _quantize.VPatchNums.Count);

    /// <summary>VAE training only: reconstruction from the first <paramref name="keepScales"/> scales (VectorQuantizer2.ForwardKeeping).</summary>
    public VqVaeOutput ForwardKeeping(Tensor inp_B3HW, bool retUsages, int keepScales)
    {
        QuantizerOutput q;
        using (var f = Features(inp_B3HW)) q = _quantize.ForwardKeeping(f, retUsages, keepScales);
        using var fHat = q.FHat_BChw;
        using var post = _postQuantConv.call(fHat);
        return new VqVaeOutput(_decoder.call(post), q.Usages, q.VqLoss);
    }

    /// <summary>Decodes a (partial or complete) f_hat [B, C, h, w] to an image [B, 3, h*f, w*f] clamped to [-1, 1].</summary>
    public Tensor FhatToImg(Tensor f_hat_BChw)
    {
        using var _ = no_grad();
        using var post = _postQuantConv.call(f_hat_BChw);
        return _decoder.call(post).clamp_(-1, 1);
    }

    /// <summary>
    /// Cheap preview of a partial f_hat: area-downsamples it to <paramref name="latentSide"/> (as the next scale's
    /// input is made) before decoding, so the image is latentSide*f pixels wide and costs about (latentSide/H)^2 of a
    /// full decode. Previewing every scale of the 256 px schedule at its own side costs ~2.7 full decodes instead of 10
    /// (1024 px: ~2.3 instead of 14); capping latentSide (say at 8, a 128 px preview) bounds each preview at (8/H)^2
    /// of a full decode (25% at 256 px, 1.6% at 1024 px). A latentSide of at least H decodes at full size.
    /// </summary>
    public Tensor FhatToPreviewImg(Tensor f_hat_BChw, int latentSide)
    {
        if (latentSide < 1) throw new ArgumentOutOfRangeException(nameof(latentSide), latentSide, "Must be positive.");
        if (latentSide >= f_hat_BChw.shape[2] && latentSide >= f_hat_BChw.shape[3]) return FhatToImg(f_hat_BChw);
        using var _ = no_grad();
        using var small = F.interpolate(f_hat_BChw, [latentSide, latentSide], mode: InterpolationMode.Area);
        return FhatToImg(small);
    }

    /// <summary>Image [B, 3, H*f, W*f] to each scale's tokens [B, ph*pw].</summary>
    public IReadOnlyList<Tensor> ImgToIdxBl(Tensor inp_img_no_grad, IReadOnlyList<(int H, int W)>? patchHWs = null)
    {
        using var _ = no_grad();
        using var f = Features(inp_img_no_grad);
        return _quantize.FToIdxBlOrFhat(f, toFhat: false, patchHWs);
    }

    /// <summary>
    /// Tokens of every scale to images: the image of each partial f_hat, or (<paramref name="lastOne"/>) only of the
    /// complete one (a one-element list). <paramref name="sameShape"/>: the reference's all_to_max_scale.
    /// </summary>
    public IReadOnlyList<Tensor> IdxBlToImg(IReadOnlyList<Tensor> ms_idx_Bl, bool sameShape, bool lastOne = false)
    {
        var ms_h_BChw = ms_idx_Bl.Select(_quantize.IdxToEmbedMap).ToList();
        try { return EmbedToImg(ms_h_BChw, sameShape, lastOne); }
        finally { foreach (var h in ms_h_BChw) h.Dispose(); }
    }

    /// <summary>Codebook-vector maps of every scale to images (see <see cref="IdxBlToImg"/>).</summary>
    public IReadOnlyList<Tensor> EmbedToImg(IReadOnlyList<Tensor> ms_h_BChw, bool allToMaxScale, bool lastOne = false)
    {
        var fHats = _quantize.EmbedToFhat(ms_h_BChw, allToMaxScale, lastOne);
        try { return [.. fHats.Select(FhatToImg)]; }
        finally { foreach (var f in fHats) f.Dispose(); }
    }

    /// <summary>Encode, quantise and decode: the image of each partial f_hat, or (<paramref name="lastOne"/>) of the complete one.</summary>
    public IReadOnlyList<Tensor> ImgToReconstructedImg(Tensor x, IReadOnlyList<(int H, int W)>? patchHWs = null, bool lastOne = false)
    {
        using var _ = no_grad();
        IReadOnlyList<Tensor> fHats;
        using (var f = Features(x)) fHats = _quantize.FToIdxBlOrFhat(f, toFhat: true, patchHWs);
        try { return lastOne ? [FhatToImg(fHats[^1])] : [.. fHats.Select(FhatToImg)]; }
        finally { foreach (var f in fHats) f.Dispose(); }
    }

    /// <summary>quant_conv(encoder(x)): the continuous latent [B, C, H, W] the quantiser works on.</summary>
    public Tensor Features(Tensor img_B3HW)
    {
        if (img_B3HW.Dimensions != 4 || img_B3HW.shape[1] != Config.InChannels)
            throw new ArgumentException($"Expected images [B, {Config.InChannels}, H, W], got [{string.Join(", ", img_B3HW.shape)}].");
        if (img_B3HW.shape[2] % Downsample != 0 || img_B3HW.shape[3] % Downsample != 0)
            throw new ArgumentException($"Image sides must be multiples of {Downsample}, got {img_B3HW.shape[2]}x{img_B3HW.shape[3]}.");
        using var h = _encoder.call(img_B3HW);
        return _quantConv.call(h);
    }

    /// <summary>
    /// Loads a state dict with the reference's names (e.g. vae_ch160v4096z32.pth), like the reference's
    /// VQVAE.load_state_dict: a <c>quantize.ema_vocab_hit_SV</c> with another number of scales (the official file has
    /// 10 rows; a 1024 px schedule needs 14) is ignored and this module's buffer kept. Any other missing, unexpected or
    /// mis-shaped key is an error naming every such key; nothing is copied then.
    /// </summary>
    /// <returns>Notes on what was adapted (empty when the file matched exactly).</returns>
    public IReadOnlyList<string> LoadReferenceStateDict(IReadOnlyDictionary<string, Tensor> source)
    {
        var notes = new List<string>();
        var destination = state_dict();
        var skip = new HashSet<string>();
        if (source.TryGetValue(EmaVocabHitKey, out var ema) && destination.TryGetValue(EmaVocabHitKey, out var ours)
            && ema.Dimensions == 2 && ema.shape[0] != ours.shape[0] && ema.shape[1] == ours.shape[1])
        {
            skip.Add(EmaVocabHitKey);
            notes.Add($"{EmaVocabHitKey}: file has [{string.Join(", ", ema.shape)}] for another number of scales; kept [{string.Join(", ", ours.shape)}].");
        }

        var problems = new List<string>();
        foreach (var key in destination.Keys.Where(k => !source.ContainsKey(k)).Order(StringComparer.Ordinal))
            problems.Add($"missing: {key} [{string.Join(", ", destination[key].shape)}]");
        foreach (var key in source.Keys.Where(k => !destination.ContainsKey(k)).Order(StringComparer.Ordinal))
            problems.Add($"unexpected: {key} [{string.Join(", ", source[key].shape)}]");
        foreach (var (key, dst) in destination.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (skip.Contains(key) || !source.TryGetValue(key, out var src)) continue;
            if (!src.shape.SequenceEqual(dst.shape))
                problems.Add($"shape mismatch: {key} file [{string.Join(", ", src.shape)}] vs model [{string.Join(", ", dst.shape)}]");
            else if (src.dtype != dst.dtype && !(src.is_floating_point() && dst.is_floating_point()))
                problems.Add($"dtype mismatch: {key} file {src.dtype} vs model {dst.dtype}");
        }
        if (problems.Count > 0)
            throw new InvalidDataException($"VQ-VAE state dict does not match the model ({problems.Count} problems):\n  " + string.Join("\n  ", problems));

        using var _ = no_grad();
        foreach (var (key, dst) in destination)
            if (!skip.Contains(key)) dst.copy_(source[key]);
        return notes;
    }
}
