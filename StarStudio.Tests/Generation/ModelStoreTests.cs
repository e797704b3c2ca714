using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;

namespace StarStudio.Tests.Generation;

[Collection(TorchStateCollection.Name)]
public sealed class ModelStoreTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "starstudio-store-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("tiny-star-sampler")]
    [InlineData("tiny-var")]
    public void SaveThenLoad_GeneratesTheSameImage(string preset)
    {
        using var original = RandomModels.Create(preset, seed: 4);
        ModelStore.Save(original, _dir, "test model");
        using var loaded = ModelStore.Load(_dir);

        var request = original.Limits.TextConditional
            ? new GenerationRequest { Prompts = ["a red circle"], Seed = 2, Cfg = 2, StableSampling = true }
            : new GenerationRequest { ClassLabels = [4], Seed = 2, Cfg = 2 };
        var a = new GenerationPipeline(original).Generate(request).Last();
        var b = new GenerationPipeline(loaded).Generate(request).Last();
        Assert.Equal(a.Images![0].Pixels, b.Images![0].Pixels);
        Assert.Equal(original.Limits, loaded.Limits with { PatchNums = original.Limits.PatchNums });
        Assert.Equal(original.Limits.PatchNums, loaded.Limits.PatchNums);
    }

    [Fact]
    public void RecommendedSampling_IsWrittenToTheManifestAndReadBack()
    {
        using (var model = RandomModels.Create("tiny-star-sampler", seed: 4))
        {
            Assert.Null(model.Recommended);
            model.Recommended = new Model.Presets.SamplingDefaults(Cfg: 6, TopK: 5, TopP: 0.9, MoreSmooth: true);
            ModelStore.Save(model, _dir, "test model");
        }
        Assert.Contains("\"more_smooth\": true", File.ReadAllText(Path.Combine(_dir, ModelManifest.FileName)));
        using var loaded = ModelStore.Load(_dir);
        Assert.Equal(new Model.Presets.SamplingDefaults(6, 5, 0.9, MoreSmooth: true), loaded.Recommended);
    }

    [Fact]
    public void RecommendedSampling_IsFittedToTheModelWhenLoaded()
    {
        using (var model = RandomModels.Create("tiny-star", seed: 4)) // no sampler head
        {
            model.Recommended = new Model.Presets.SamplingDefaults(Cfg: 3, TopK: 99999, TopP: 0.9, StableSampling: true);
            ModelStore.Save(model, _dir, "test model");
        }
        using var loaded = ModelStore.Load(_dir);
        Assert.Equal(new Model.Presets.SamplingDefaults(3, loaded.Limits.VocabSize, 0.9, StableSampling: false), loaded.Recommended);
    }

    [Theory]
    [InlineData("\"cfg\": 6", "\"cfg\": -1")]
    [InlineData("\"top_p\": 0.9", "\"top_p\": 7")]
    [InlineData("\"top_k\": 5", "\"top_k\": -3")]
    public void RecommendedSampling_OutOfRangeInTheManifest_IsRefusedWithTheReason(string good, string bad)
    {
        using (var model = RandomModels.Create("tiny-star", seed: 4))
        {
            model.Recommended = new Model.Presets.SamplingDefaults(Cfg: 6, TopK: 5, TopP: 0.9);
            ModelStore.Save(model, _dir, "test model");
        }
        string path = Path.Combine(_dir, ModelManifest.FileName);
        string json = File.ReadAllText(path);
        Assert.Contains(good, json);
        File.WriteAllText(path, json.Replace(good, bad));
        var e = Assert.ThrowsAny<Exception>(() => ModelStore.Load(_dir));
        Assert.Contains("sampling: cfg must lie in [0, 20]", e.Message);
    }

    [Fact]
    public void Load_NamesEveryMismatchedTensor()
    {
        using var model = RandomModels.Create("tiny-star", seed: 4);
        ModelStore.Save(model, _dir);
        // Swap in weights of a different architecture under the transformer's file name.
        using var other = RandomModels.Create("tiny-star-sampler", seed: 5);
        var otherDir = Path.Combine(_dir, "other");
        ModelStore.Save(other, otherDir);
        File.Copy(Path.Combine(otherDir, "transformer.safetensors"), Path.Combine(_dir, "transformer.safetensors"), overwrite: true);

        var e = Assert.ThrowsAny<Exception>(() => ModelStore.Load(_dir));
        Assert.Contains("transformer.safetensors", e.Message);
        Assert.Contains("head_logits2", e.Message);
    }

    [Fact]
    public void Load_MissingFolderSaysWhatIsWrong()
    {
        var e = Assert.ThrowsAny<Exception>(() => ModelStore.Load(Path.Combine(_dir, "nope")));
        Assert.Contains("nope", e.Message);
    }
}
