using StarStudio.Model.Generation;
using StarStudio.Model.Training;
using static TorchSharp.torch;

namespace StarStudio.Tests.Training;

/// <summary>`train detail` on the shipped STAR checkpoint (models/shapes-star-training), with the shapes-detail preset.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class DetailTrainerTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("starstudio-detail-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>The repository's models/shapes-star-training (the binaries' folder holds only the exported model).</summary>
    static string? TrainingFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models", "shapes-star-training");
            if (File.Exists(Path.Combine(candidate, "star", TrainerBase.CheckpointFile))) return candidate;
        }
        return null;
    }

    [Fact]
    public void DetailStage_StartsAtTheFrozenModelsLoss_TrainsOnlyTheHead_AndExportsIt()
    {
        var training = TrainingFolder();
        Assert.SkipWhen(training is null, "models/shapes-star-training is not in this checkout.");
        foreach (var stage in new[] { "vqvae", "star" })
        {
            Directory.CreateDirectory(Path.Combine(_dir, stage));
            foreach (var f in Directory.GetFiles(Path.Combine(training!, stage))) File.Copy(f, Path.Combine(_dir, stage, Path.GetFileName(f)));
        }
        // A short sampler stage first: the detail stage then takes the transformer from it and the text encoder from the STAR stage.
        using (var sampler = new SamplerTrainer(ShapesTraining.Defaults(SamplerTrainer.StageName, "shapes-detail") with
               { RunFolder = _dir, Steps = 2, BatchSize = 4, SampleEvery = 0, WriteImages = false }))
            sampler.Run();
        Assert.EndsWith(SamplerTrainer.StageName, DetailTrainer.SourceFolder(_dir));
        var options = ShapesTraining.Defaults(DetailTrainer.StageName, "shapes-detail") with
        {
            RunFolder = _dir, Steps = 40, BatchSize = 8, WarmupSteps = 0, LearningRate = 3e-3, SampleEvery = 0, CheckpointEvery = 40, WriteImages = false,
        };
        var steps = new List<TrainProgress>();
        Dictionary<string, Tensor> before, after;
        using (var trainer = new DetailTrainer(options))
        {
            before = trainer.Transformer.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            trainer.Run(steps.Add);
            after = trainer.Transformer.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        }
        Assert.Equal(40, steps.Count);
        // Step 0: the head's last conv is zero, so the loss is the frozen transformer's own on the same batch.
        Assert.Equal(steps[0].Metrics["base_loss"], steps[0].Loss, 5);
        // Trained only the head: every other weight is the STAR checkpoint's, bit for bit; the head moved.
        foreach (var (name, t) in before)
        {
            bool same = t.eq(after[name]).all().item<bool>();
            if (DetailTrainer.IsDetailHeadParameter(name)) { if (name.EndsWith("output.weight")) Assert.False(same, name); }
            else Assert.True(same, $"{name} changed");
        }
        // Paired on the same batches: within 40 steps the head already lowers the 16x16 loss below the transformer's.
        double gain = steps.Skip(30).Average(s => s.Metrics["base_loss"] - s.Loss);
        Assert.True(gain > 0, $"the head's loss is {-gain:F4} nats above the frozen model's over steps 30-39");

        var folder = Path.Combine(_dir, "export");
        ShapesTraining.Export(_dir, ShapesModelPreset.ShapesDetail, folder);
        using var model = ModelStore.Load(folder);
        var star = Assert.IsType<StarStudio.Model.Transformers.StarTransformer>(model.Transformer);
        Assert.True(star.HasDetailHeadAt(7));
        Assert.False(star.HasDetailHeadAt(6));
        Assert.Equal(0, (star.state_dict()["head_detail.output.weight"] - after["head_detail.output.weight"]).abs().max().item<float>());
        foreach (var t in before.Values.Concat(after.Values)) t.Dispose();
    }

    [Fact]
    public void DetailStage_RefusesAPresetWithoutADetailHead_AndRunAllSkipsIt()
    {
        var options = ShapesTraining.Defaults(DetailTrainer.StageName, "shapes") with { RunFolder = _dir };
        var error = Assert.Throws<InvalidOperationException>(() => new DetailTrainer(options));
        Assert.Contains("shapes-detail", error.Message);
        Assert.False(ShapesTraining.AppliesTo(DetailTrainer.StageName, ShapesModelPreset.Shapes));
        Assert.True(ShapesTraining.AppliesTo(DetailTrainer.StageName, ShapesModelPreset.ShapesDetail));
        Assert.True(ShapesTraining.AppliesTo("star", ShapesModelPreset.Shapes));
    }
}
