// How much memory a model needs to generate a batch, worked out from its configuration before anything is allocated,
// so StarStudio can refuse a run the machine can't hold instead of swapping or being killed.
using System.Globalization;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Presets;
using StarStudio.Model.Text.Clip;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Models;

/// <summary>Bytes needed for one generation run, fp32, by where they go.</summary>
/// <param name="WeightsBytes">Transformer, VQ-VAE and text tower parameters and buffers.</param>
/// <param name="KvCacheBytes">Self-attention K and V of every block for all L tokens and every row (CFG doubles the rows),
/// plus the cross-attention text K/V, plus one block's copy made while the cache grows.</param>
/// <param name="ActivationBytes">The largest scale's transient tensors: hidden states, FFN hidden, q/k/v, logits and the
/// sorted copies top-k/top-p sampling makes. Attention itself runs through the fused kernel (no L x L matrix).</param>
/// <param name="DecodeBytes">The VQ-VAE decoder's largest feature maps for the batch at full resolution.</param>
/// <param name="RuntimeBytes">libtorch, the .NET runtime and the app: a fixed allowance.</param>
public sealed record MemoryEstimate(string Model, int Batch, int Rows, long WeightsBytes, long KvCacheBytes, long ActivationBytes, long DecodeBytes, long RuntimeBytes)
{
    /// <summary>Peak: everything but the decode is alive during the last scale; the decode reuses the freed cache.</summary>
    public long TotalBytes => WeightsBytes + RuntimeBytes + Math.Max(KvCacheBytes + ActivationBytes, DecodeBytes);

    public static string Format(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("F0", CultureInfo.InvariantCulture) + " MiB";

    public string Describe() =>
        $"{Model}, batch {Batch} ({Rows} rows through the transformer): about {Format(TotalBytes)} = weights {Format(WeightsBytes)} + " +
        $"KV cache {Format(KvCacheBytes)} + activations {Format(ActivationBytes)} (VAE decode {Format(DecodeBytes)} reuses that space) + runtime {Format(RuntimeBytes)}";
}

/// <summary>The machine cannot hold the model: the message carries the estimate and what is available.</summary>
public sealed class ModelTooLargeException(MemoryEstimate estimate, long availableBytes)
    : InvalidOperationException($"Not enough memory: {estimate.Describe()}, but only {MemoryEstimate.Format(availableBytes)} is available. " +
                                "Use a smaller preset or batch, guidance-free sampling (cfg 0 halves the rows), or a machine with more memory.")
{
    public MemoryEstimate Estimate { get; } = estimate;
    public long AvailableBytes { get; } = availableBytes;
}

public static class MemoryEstimator
{
    const long RuntimeAllowance = 768L << 20; // var-d16 bench: 2.49 GiB peak RSS vs 1.9 GiB of weights, cache and activations
    const long F32 = 4;
    static readonly Device Meta = new(DeviceType.META);

    /// <summary>Text tokens STAR's cross-attention sees (CLIP's window).</summary>
    public const int ClipTokens = 77;

    /// <summary>Memory the OS can give this process without swapping: MemAvailable from /proc/meminfo on Linux, else
    /// what the .NET runtime reports.</summary>
    public static long AvailableBytes()
    {
        try
        {
            if (File.Exists("/proc/meminfo"))
                foreach (var line in File.ReadLines("/proc/meminfo"))
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                        && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kib))
                        return kib * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>Throws <see cref="ModelTooLargeException"/> when the estimate exceeds what is available.</summary>
    public static void EnsureFits(MemoryEstimate estimate, long availableBytes)
    {
        if (estimate.TotalBytes > availableBytes) throw new ModelTooLargeException(estimate, availableBytes);
    }

    /// <summary>Bytes of a module's state (parameters and buffers) in fp32, counted on the meta device.</summary>
    public static long StateBytes(Func<Device, nn.Module> build)
    {
        using var module = build(Meta);
        return module.state_dict().Values.Sum(t => t.numel()) * F32;
    }

    public static MemoryEstimate ForPreset(ModelPreset preset, int batch = 1, bool cfg = true) => preset.Star is { } star
        ? ForStar(preset.Name, star, preset.Vae, StateBytes(d => new ClipTextModel(new ClipTextConfig { HiddenSize = star.TextDim }, device: d)), ClipTokens, batch, cfg)
        : ForVar(preset.Name, preset.Var!, preset.Vae, batch, cfg);

    public static MemoryEstimate ForStar(string name, StarConfig config, VqVaeConfig vae, long textWeightBytes, int textTokens, int batch, bool cfg)
    {
        int rows = cfg ? 2 * batch : batch;
        long weights = StateBytes(d => new StarTransformer(config, d)) + StateBytes(d => new VQVAE(vae, d)) + textWeightBytes;
        long C = config.Width, L = config.TotalTokens, l = (long)config.PatchNums[^1] * config.PatchNums[^1];
        long kv = config.Depth * 2L * rows * L * C * F32                      // self-attention K, V
                  + (config.EnableCross ? config.Depth * 2L * rows * textTokens * C * F32 : 0)
                  + 2L * rows * L * C * F32;                                  // one block's K, V while torch.cat grows it
        long act = Activations(rows, l, C, config.MlpHidden, config.VocabSize) + 3L * rows * textTokens * config.TextDim * F32;
        return new MemoryEstimate(name, batch, rows, weights, kv, act, Decode(vae, batch), RuntimeAllowance);
    }

    public static MemoryEstimate ForVar(string name, VarConfig config, VqVaeConfig vae, int batch, bool cfg)
    {
        int rows = cfg ? 2 * batch : batch;
        long weights = StateBytes(d => new VarTransformer(config, d)) + StateBytes(d => new VQVAE(vae, d));
        long C = config.Width, L = config.TotalTokens, l = (long)config.PatchNums[^1] * config.PatchNums[^1];
        long kv = config.Depth * 2L * rows * L * C * F32 + 2L * rows * L * C * F32;
        return new MemoryEstimate(name, batch, rows, weights, kv, Activations(rows, l, C, config.MlpHidden, config.VocabSize), Decode(vae, batch), RuntimeAllowance);
    }

    /// <summary>The model a model.json describes (text tower from its config.json or its weights file).</summary>
    public static MemoryEstimate ForManifest(ModelManifest manifest, string folder, int batch = 1, bool cfg = true)
    {
        var vae = manifest.GetComponent<VqVaeConfig>(ModelFileRoles.VqVae);
        if (manifest.Kind == ModelKinds.Var)
            return ForVar(manifest.Name, manifest.GetComponent<VarConfig>(ModelFileRoles.Transformer), vae, batch, cfg);
        var star = manifest.GetComponent<StarConfig>(ModelFileRoles.Transformer);
        long text = 0;
        int tokens = manifest.TextEncoder?.MaxTokens ?? ClipTokens;
        if (manifest.TextEncoder?.Kind == "clip")
        {
            string config = Path.Combine(Path.GetDirectoryName(manifest.ResolveFile(folder, ModelFileRoles.TextEncoder))!, "config.json");
            var clip = ClipTextConfig.FromFile(config);
            text = StateBytes(d => new ClipTextModel(clip, device: d));
        }
        else if (manifest.Files.ContainsKey(ModelFileRoles.TextEncoder))
            text = new FileInfo(manifest.ResolveFile(folder, ModelFileRoles.TextEncoder)).Length;
        return ForStar(manifest.Name, star, vae, text, tokens, batch, cfg);
    }

    static long Activations(long rows, long l, long C, long hidden, long V) =>
        rows * l * (8 * C + 2 * hidden) * F32   // x, norms, q, k, v, attention output, residuals; FFN hidden and its GELU
        + rows * l * V * F32 * 3;               // logits, their sorted copy, probabilities

    /// <summary>The decoder's largest level: a handful of feature maps [B, ch*mult, side, side] alive at once.</summary>
    static long Decode(VqVaeConfig vae, int batch)
    {
        long side = vae.ImageSide, worst = 0;
        for (int level = 0; level < vae.ChMult.Count; level++)
        {
            long s = side >> level;
            worst = Math.Max(worst, (long)vae.Ch * vae.ChMult[level] * s * s);
        }
        return batch * worst * F32 * 5;
    }
}
