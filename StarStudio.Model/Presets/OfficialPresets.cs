// The released STAR, VAR and CCA models as named presets: architecture (STAR-T2I models/__init__.py build_vae_var as
// demo_gradio.py calls it; FoundationVision/VAR models/__init__.py and its README zoo), the shared VQ-VAE
// (vae_ch160v4096z32.pth), and the sampling settings the authors use (STAR demo_gradio.py and README, VAR demo_sample,
// CCA: no guidance).
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using StarStudio.Model.Sampling;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;

namespace StarStudio.Model.Presets;

/// <summary>Sampling settings a preset starts from; a request may change any of them.</summary>
/// <param name="Cfg">Guidance weight at the last scale (0: guidance-free, as CCA's fine-tunes are meant to run).</param>
/// <param name="TopK">0 = off.</param>
/// <param name="TopP">0 = off.</param>
/// <param name="MoreSmooth">VAR's Gumbel mixture; the STAR demo never turns it on.</param>
/// <param name="StableSampling">STAR's w_mask (needs the sampler head).</param>
public sealed record SamplingDefaults(double Cfg, int TopK, double TopP, bool MoreSmooth = false, bool StableSampling = false,
    StableSamplerVersion StableSamplerVersion = StableSamplerVersion.V1024)
{
    /// <summary>These settings as a model can use them: top-k at most its vocabulary, stable sampling only with a sampler head.</summary>
    public SamplingDefaults FitTo(ModelLimits limits) => this with
    {
        TopK = Math.Min(TopK, limits.VocabSize),
        StableSampling = StableSampling && limits.HasStableSamplerHead,
    };

    /// <summary>StarStudio's general defaults, for a model that recommends nothing: those of a new <see cref="GenerationRequest"/>.</summary>
    public static SamplingDefaults General { get; } = From(new GenerationRequest());

    static SamplingDefaults From(GenerationRequest r) => new(r.Cfg, r.TopK, r.TopP, r.MoreSmooth, r.StableSampling, r.StableSamplerVersion);

    /// <summary>A request carrying these settings (prompts or class labels still to be filled in).</summary>
    public GenerationRequest ToRequest() => new()
    {
        Cfg = Cfg, TopK = TopK, TopP = TopP, MoreSmooth = MoreSmooth, StableSampling = StableSampling, StableSamplerVersion = StableSamplerVersion,
    };
}

/// <summary>One released model: what to build and how to sample it.</summary>
public sealed record ModelPreset
{
    public required string Name { get; init; }
    /// <summary>"star" or "var" (<see cref="ModelKinds"/>); CCA fine-tunes are "var".</summary>
    public required string Kind { get; init; }
    public required string Description { get; init; }
    /// <summary>Image side in pixels.</summary>
    public required int Resolution { get; init; }
    public StarConfig? Star { get; init; }
    public VarConfig? Var { get; init; }
    public required VqVaeConfig Vae { get; init; }
    public required SamplingDefaults Defaults { get; init; }
    /// <summary>Typical names of the official files, for the model manager's hints.</summary>
    public IReadOnlyList<string> FileHints { get; init; } = [];

    public int Depth => Star?.Depth ?? Var!.Depth;
    public int Width => Star?.Width ?? Var!.Width;
    public IReadOnlyList<int> PatchNums => Star?.PatchNums ?? Var!.PatchNums;
    public bool HasSamplerHead => Star?.StableSamplerHead ?? false;
    /// <summary>Text width the transformer expects (STAR: 1024, SD 2.1's OpenCLIP ViT-H/14 text tower); 0 for VAR.</summary>
    public int TextDim => Star?.TextDim ?? 0;
}

public static class OfficialPresets
{
    /// <summary>Every preset, by name: star-d{16,30}-{256,512,1024}[-sampler], var-d{16,20,24,30,36}, cca-var-d{16,20,24,30}.</summary>
    public static IReadOnlyList<ModelPreset> All { get; } = Build();

    public static IEnumerable<string> Names => All.Select(p => p.Name);

    public static ModelPreset? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    public static ModelPreset Get(string name) => Find(name)
        ?? throw new ArgumentException($"Unknown preset '{name}'. Presets: {string.Join(", ", Names)}.", nameof(name));

    static List<ModelPreset> Build()
    {
        var list = new List<ModelPreset>();
        foreach (int depth in new[] { 16, 30 })
            foreach (int res in new[] { 256, 512, 1024 })
                foreach (bool sampler in new[] { false, true })
                {
                    list.Add(new ModelPreset
                    {
                        Name = $"star-d{depth}-{res}{(sampler ? "-sampler" : "")}",
                        Kind = ModelKinds.Star,
                        Description = $"STAR d{depth} text-to-image, {res} px ({PatchSchedules.ForResolution(res).Count} scales)"
                                      + (sampler ? ", causal-driven stable sampler from scale 9" : ""),
                        Resolution = res,
                        Star = StarConfig.Official(depth, res, sampler),
                        Vae = VqVaeConfig.OfficialFor(res),
                        // README's recommended settings (cfg 4, top-p 0.8, top-k 4096); the sampler demo uses top-k 600
                        // and w_mask with sample_version '1024'. more_smooth stays off: the demo never passes it through.
                        Defaults = sampler
                            ? new SamplingDefaults(4.0, 600, 0.8, StableSampling: true, StableSamplerVersion: StableSamplerVersion.V1024)
                            : new SamplingDefaults(4.0, 4096, 0.8),
                        FileHints = [$"ar-ckpt-*.pth (trainer/var_wo_ddp)", "vae_ch160v4096z32.pth", "text_encoder/", "tokenizer/"],
                    });
                }
        foreach (int depth in new[] { 16, 20, 24, 30, 36 })
        {
            var config = VarConfig.Official(depth);
            int res = config.PatchNums[^1] * 16;
            list.Add(new ModelPreset
            {
                Name = $"var-d{depth}",
                Kind = ModelKinds.Var,
                Description = $"VAR d{depth} class-conditional ImageNet, {res} px" + (config.SharedAln ? ", shared AdaLN (d36-s)" : ""),
                Resolution = res,
                Var = config,
                Vae = VqVaeConfig.OfficialFor(res),
                // demo_sample: cfg 4, top-k 900, top-p 0.95, more_smooth False (FID runs use cfg 1.5, top-p 0.96).
                Defaults = new SamplingDefaults(4.0, 900, 0.95),
                FileHints = [$"var_d{depth}.pth", "vae_ch160v4096z32.pth"],
            });
        }
        foreach (int depth in new[] { 16, 20, 24, 30 })
        {
            list.Add(new ModelPreset
            {
                Name = $"cca-var-d{depth}",
                Kind = ModelKinds.Var,
                Description = $"VAR d{depth} fine-tuned with Condition Contrastive Alignment: guidance-free sampling (half the compute of CFG)",
                Resolution = 256,
                Var = VarConfig.Official(depth),
                Vae = VqVaeConfig.OfficialFor(256),
                Defaults = new SamplingDefaults(0.0, 900, 0.96),
                FileHints = [$"var_d{depth}*.pth (CCA fine-tune)", "vae_ch160v4096z32.pth"],
            });
        }
        return list;
    }
}
