using StarStudio.Model.Text;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Generation;

/// <summary>
/// Random-weight models of the official sizes (for benchmarks, memory estimates and tests): the architecture and the
/// arithmetic are real, the pictures are noise. Seeded, so two runs build identical weights.
/// </summary>
public static class RandomModels
{
    /// <summary>Preset names and what they build.</summary>
    public static readonly IReadOnlyDictionary<string, string> Presets = new Dictionary<string, string>
    {
        ["star-d16-256"] = "STAR d16, 256 px (10 scales), official VQ-VAE, random 1024-wide text tower (77 tokens)",
        ["star-d16-256-sampler"] = "as star-d16-256 plus the stable-sampler head",
        ["star-d16-512"] = "STAR d16, 512 px (10 scales)",
        ["star-d30-1024"] = "STAR d30, 1024 px (14 scales), with the stable-sampler head",
        ["var-d16"] = "VAR d16, 256 px, class-conditional",
        ["var-d30"] = "VAR d30, 256 px, class-conditional",
        ["tiny-star"] = "depth 2, width 64, 4 scales (1,2,3,4), 64-word vocabulary: for tests",
        ["tiny-star-sampler"] = "tiny-star with a stable-sampler head from scale 2",
        ["tiny-var"] = "depth 2, width 64, 4 scales, 10 classes: for tests",
    };

    public static ScaleWiseModel Create(string preset, Device? device = null, long seed = 0)
    {
        device ??= CPU;
        if (!Presets.ContainsKey(preset))
            throw new ArgumentException($"Unknown preset '{preset}'. Presets: {string.Join(", ", Presets.Keys)}.");
        manual_seed(seed);
        using var noGrad = no_grad();
        return preset switch
        {
            "star-d16-256" => Star(preset, StarConfig.D16(256), VqVaeConfig.OfficialFor(256), device),
            "star-d16-256-sampler" => Star(preset, StarConfig.D16(256, samplerHead: true), VqVaeConfig.OfficialFor(256), device),
            "star-d16-512" => Star(preset, StarConfig.D16(512), VqVaeConfig.OfficialFor(512), device),
            "star-d30-1024" => Star(preset, StarConfig.D30(1024, samplerHead: true), VqVaeConfig.OfficialFor(1024), device),
            "var-d16" => Var(preset, VarConfig.Official(16), VqVaeConfig.OfficialFor(256), device),
            "var-d30" => Var(preset, VarConfig.Official(30), VqVaeConfig.OfficialFor(256), device),
            "tiny-star" => Star(preset, TinyStar(sampler: false), TinyVae, device, textDim: 32, maxTokens: 12),
            "tiny-star-sampler" => Star(preset, TinyStar(sampler: true), TinyVae, device, textDim: 32, maxTokens: 12),
            "tiny-var" => Var(preset, TinyVar, TinyVae, device),
            _ => throw new ArgumentException($"Unknown preset '{preset}'."),
        };
    }

    static readonly IReadOnlyList<int> TinyPatchNums = [1, 2, 3, 4];

    static VqVaeConfig TinyVae => new()
    {
        VocabSize = 64, Cvae = 8, Ch = 16, ChMult = [1, 2], NumResBlocks = 1, NormGroups = 8, VPatchNums = TinyPatchNums,
    };

    static StarConfig TinyStar(bool sampler) => new()
    {
        Depth = 2, Width = 64, Heads = 4, TextDim = 32, PatchNums = TinyPatchNums, Cvae = 8, VocabSize = 64,
        NumClasses = 10, StableSamplerHead = sampler, SampleFromIdx = 2, SamplerDepth = 1,
    };

    static VarConfig TinyVar => new()
    {
        Depth = 2, Width = 64, Heads = 4, PatchNums = TinyPatchNums, Cvae = 8, VocabSize = 64, NumClasses = 10,
    };

    /// <summary>A small fixed word list for the random text towers (their weights mean nothing anyway).</summary>
    static readonly string[] Words =
        ["a", "an", "the", "red", "green", "blue", "yellow", "circle", "square", "triangle", "star", "on", "background", "photo", "of", "cat", "dog", "with", "and", ","];

    static ScaleWiseModel Star(string name, StarConfig config, VqVaeConfig vaeConfig, Device device, int? textDim = null, int maxTokens = 77)
    {
        int dim = textDim ?? config.TextDim;
        var text = new WordTextEncoder(new WordTokenizer(Words), new WordTextEncoderConfig(Dim: dim, Depth: 1, Heads: dim >= 64 ? dim / 64 : 2, MaxTokens: maxTokens));
        var transformer = new StarTransformer(config);
        var vae = new VQVAE(vaeConfig);
        transformer.to(device).eval();
        vae.to(device).eval();
        text.to(device).eval();
        return new ScaleWiseModel(name, transformer, vae, text, config.NumClasses, config.SampleFromIdx, device);
    }

    static ScaleWiseModel Var(string name, VarConfig config, VqVaeConfig vaeConfig, Device device)
    {
        var transformer = new VarTransformer(config);
        var vae = new VQVAE(vaeConfig);
        transformer.to(device).eval();
        vae.to(device).eval();
        return new ScaleWiseModel(name, transformer, vae, null, config.NumClasses, int.MaxValue, device);
    }
}
