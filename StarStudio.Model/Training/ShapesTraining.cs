// StarStudio's own orchestration of the three training stages (STAR-T2I train.py then train_sampler.py) and the export
// of the result as a model folder.
using StarStudio.Model.Generation;

namespace StarStudio.Model.Training;

public static class ShapesTraining
{
    public static readonly IReadOnlyList<string> Stages = [VqVaeTrainer.StageName, "star", "sampler"];

    public static string Describe(string stage) => stage switch
    {
        VqVaeTrainer.StageName => "Train the multi-scale VQ-VAE (reconstruction + VQ loss).",
        "star" => "Train the STAR transformer and the word text encoder by teacher forcing (10% empty prompts for CFG).",
        "sampler" => "Train the stable-sampler head alone (STAR's train_sampler.py), the rest frozen.",
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
        _ => throw new ArgumentException($"Unknown stage '{stage}'."),
    };

    public static TrainerBase CreateTrainer(string stage, TrainOptions options) => stage switch
    {
        VqVaeTrainer.StageName => new VqVaeTrainer(options),
        StarTrainer.StageName => new StarTrainer(options),
        SamplerTrainer.StageName => new SamplerTrainer(options),
        _ => throw new ArgumentException($"Unknown stage '{stage}'."),
    };

    /// <summary>Writes the trained model (last checkpoints of the stages) with ModelStore.Save; returns the manifest path.</summary>
    /// <remarks>
    /// The transformer comes from the sampler stage when it has a checkpoint (main weights unchanged, head trained), else
    /// from the star stage (then the sampler head is untrained and the description says so); the text encoder from the star stage.
    /// </remarks>
    public static string Export(string runFolder, ShapesModelPreset preset, string folder)
    {
        var vae = VqVaeTrainer.LoadTrained(runFolder, preset);
        var starFolder = Path.Combine(runFolder, StarTrainer.StageName);
        var samplerFolder = Path.Combine(runFolder, SamplerTrainer.StageName);
        var (_, text) = StarTrainer.LoadTrained(starFolder, preset);
        bool withSampler = TrainerBase.ReadInfo(samplerFolder) is not null;
        var (transformer, unusedText) = StarTrainer.LoadTrained(withSampler ? samplerFolder : starFolder, preset, loadText: false);
        unusedText.Dispose();
        var steps = string.Join(", ", Stages.Select(s => TrainerBase.ReadInfo(Path.Combine(runFolder, s)) is { } i ? $"{s} {i.Step} steps" : $"{s} not trained"));
        using var model = new ScaleWiseModel(preset.Name, transformer, vae, text, preset.Star.NumClasses, preset.Star.SampleFromIdx, TorchSharp.torch.CPU)
        {
            Recommended = preset.Sampling,
        };
        var description = $"ShapesWorld STAR ({preset.ImageSize}x{preset.ImageSize}, {preset.Star.NumScales} scales), trained by StarStudio's C# pipeline: {steps}."
            + (withSampler ? "" : " The stable-sampler head is untrained.");
        return ModelStore.Save(model, folder, description);
    }
}
