// StarStudio's own orchestration of the three training stages (STAR-T2I train.py then train_sampler.py) and the export
// of the result as a model folder.
using StarStudio.Model.Generation;

namespace StarStudio.Model.Training;

public static class ShapesTraining
{
    public static readonly IReadOnlyList<string> Stages = [VqVaeTrainer.StageName, "star", "sampler", DetailTrainer.StageName];

    /// <summary>Whether `train --preset P` runs the stage: the detail stage only for presets with a detail head.</summary>
    public static bool AppliesTo(string stage, ShapesModelPreset preset) => stage != DetailTrainer.StageName || preset.Star.DetailHeadFromScale > 0;

    public static string Describe(string stage) => stage switch
    {
        VqVaeTrainer.StageName => "Train the multi-scale VQ-VAE (reconstruction + VQ loss).",
        "star" => "Train the STAR transformer and the word text encoder by teacher forcing (10% empty prompts for CFG).",
        "sampler" => "Train the stable-sampler head alone (STAR's train_sampler.py), the rest frozen.",
        DetailTrainer.StageName => "Train StarStudio's detail head alone (a conv net adding logits on the finest scales), the rest frozen.",
        _ => throw new ArgumentException($"Unknown stage '{stage}'."),
    };

    /// <summary>Per-stage defaults: the settings of the shipped model's run: 111 minutes of steps with two threads (docs/MODEL_CARD.md).</summary>
    public static TrainOptions Defaults(string stage, string preset) => stage switch
    {
        VqVaeTrainer.StageName => new TrainOptions { RunFolder = "", Preset = preset, Steps = 1400, BatchSize = 32, LearningRate = 1e-3, WarmupSteps = 30, WeightDecay = 0.0 },
        "star" => new TrainOptions
        {
            RunFolder = "", Preset = preset, Steps = 2400, BatchSize = 32, LearningRate = 1.5e-3, WarmupSteps = 30, WeightDecay = 0.05,
            ScaleWeighting = ScaleLossWeighting.PerScale, PromptProbeWeight = 1.0,
        },
        "sampler" => new TrainOptions { RunFolder = "", Preset = preset, Steps = 150, BatchSize = 32, LearningRate = 1e-3, WarmupSteps = 10, WeightDecay = 0.0 },
        DetailTrainer.StageName => new TrainOptions { RunFolder = "", Preset = preset, Steps = 800, BatchSize = 32, LearningRate = 2e-3, WarmupSteps = 20, WeightDecay = 0.01 },
        _ => throw new ArgumentException($"Unknown stage '{stage}'."),
    };

    public static TrainerBase CreateTrainer(string stage, TrainOptions options) => stage switch
    {
        VqVaeTrainer.StageName => new VqVaeTrainer(options),
        StarTrainer.StageName => new StarTrainer(options),
        SamplerTrainer.StageName => new SamplerTrainer(options),
        DetailTrainer.StageName => new DetailTrainer(options),
        _ => throw new ArgumentException($"Unknown stage '{stage}'."),
    };

    /// <summary>Writes the trained model (last checkpoints of the stages) with ModelStore.Save; returns the manifest path.</summary>
    /// <remarks>
    /// The transformer comes from the detail stage when it has a checkpoint (the sampler stage's weights, or the star
    /// stage's, with the detail head trained), else from the sampler stage (main weights unchanged, head trained), else
    /// from the star stage (then the sampler head is untrained and the description says so); the text encoder from the star stage.
    /// </remarks>
    public static string Export(string runFolder, ShapesModelPreset preset, string folder)
    {
        var vae = VqVaeTrainer.LoadTrained(runFolder, preset);
        var starFolder = Path.Combine(runFolder, StarTrainer.StageName);
        var samplerFolder = Path.Combine(runFolder, SamplerTrainer.StageName);
        var (_, text) = StarTrainer.LoadTrained(starFolder, preset);
        bool withSampler = TrainerBase.ReadInfo(samplerFolder) is not null;
        var detailFolder = Path.Combine(runFolder, DetailTrainer.StageName);
        bool withDetail = preset.Star.DetailHeadFromScale > 0 && TrainerBase.ReadInfo(detailFolder) is not null;
        var (transformer, unusedText) = StarTrainer.LoadTrained(withDetail ? detailFolder : withSampler ? samplerFolder : starFolder, preset, loadText: false);
        unusedText.Dispose();
        var steps = string.Join(", ", Stages.Where(s => AppliesTo(s, preset)).Select(s => TrainerBase.ReadInfo(Path.Combine(runFolder, s)) is { } i ? $"{s} {i.Step} steps" : $"{s} not trained"));
        using var model = new ScaleWiseModel(preset.Name, transformer, vae, text, preset.Star.NumClasses, preset.Star.SampleFromIdx, TorchSharp.torch.CPU)
        {
            Recommended = preset.Sampling,
        };
        var description = $"ShapesWorld STAR ({preset.ImageSize}x{preset.ImageSize}, {preset.Star.NumScales} scales), trained by StarStudio's C# pipeline: {steps}."
            + (withSampler ? "" : " The stable-sampler head is untrained.")
            + (preset.Star.DetailHeadFromScale > 0 && !withDetail ? " The detail head is untrained (it adds nothing)." : "");
        return ModelStore.Save(model, folder, description);
    }
}
