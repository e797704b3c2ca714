using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using StarStudio.Model.Models;
using StarStudio.Model.Text.Clip;
using StarStudio.Model.Transformers;
using StarStudio.Tests.Checkpoints.Fixtures;
using static TorchSharp.torch;

namespace StarStudio.Tests.Official;

/// <summary>Small-depth checkpoints in the official layouts: import, load, generate end to end.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class FidelityTests
{
    static readonly ImportOptions Tiny = new() { PatchNums = OfficialFiles.TinyPatchNums };

    static GenerationRequest StarRequest(long seed = 5) => new() { Prompts = ["a cat"], Seed = seed, Cfg = 3, TopK = 20, TopP = 0.9, StableSampling = true, Previews = PreviewMode.None };

    static string Import(string folder)
    {
        var report = OfficialImporter.Inspect(folder, Tiny);
        Assert.True(report.Ok, string.Join("\n", report.Lines()));
        return OfficialImporter.WriteManifest(report);
    }

    [Fact]
    public void Star_OfficialLayoutImportsLoadsAndGenerates()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: true);
        Import(dir.Path);
        using var model = ModelStore.Load(dir.Path);
        Assert.IsType<ClipTextModel>(model.TextEncoder);
        Assert.NotNull(model.SamplerHead);
        Assert.True(model.Limits.CrossAttentionBatchQuirk);
        var frames = new GenerationPipeline(model).Generate(StarRequest()).ToList();
        Assert.Equal(4, frames.Count);
        Assert.Equal(16, frames[^1].Tokens[0].Length);
        Assert.All(frames[^1].Tokens[0], t => Assert.InRange(t, 0, 63));
        var image = frames[^1].Images![0];
        Assert.Equal((8, 8), (image.Width, image.Height));

        // Loaded weights are the written ones: the transformer's state equals the trainer checkpoint's nested dict.
        using var sd = CheckpointFile.ReadStateDict(Path.Combine(dir.Path, "ar-ckpt-tiny-ep1-iter10.pth"), ["trainer", "var_wo_ddp"]);
        var live = ((nn.Module)model.Transformer).state_dict();
        foreach (var (k, v) in sd) Assert.True(v.eq(live[k]).all().item<bool>(), k);
    }

    [Fact]
    public void Star_QuirkModelRefusesBatchesThatWouldMixPrompts()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: false);
        Import(dir.Path);
        using var model = ModelStore.Load(dir.Path);
        var errors = GenerationValidator.Check(new GenerationRequest { Prompts = ["a cat", "a dog"], Cfg = 2 }, model.Limits);
        Assert.Contains(errors, e => e.Field == "batch" && e.Message.Contains("cross-attention batch quirk"));
    }

    [Fact]
    public void Star_ConvertedToSafetensorsGeneratesTheSameImage()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: true);
        Import(dir.Path);
        List<ScaleFrame> before;
        using (var model = ModelStore.Load(dir.Path)) before = new GenerationPipeline(model).Generate(StarRequest(9)).ToList();

        var converted = ModelConverter.ConvertFolder(dir.Path);
        Assert.Equal(2, converted.Count); // transformer and VAE; the text tower already was safetensors
        var manifest = ModelManifest.Load(dir.Path);
        Assert.Equal("transformer.safetensors", manifest.Files[ModelFileRoles.Transformer]);
        Assert.Null(manifest.KeyPaths);
        Assert.Equal(CheckpointFormat.Safetensors, CheckpointFile.DetectFormat(Path.Combine(dir.Path, "vqvae.safetensors")));

        List<ScaleFrame> after;
        using (var model = ModelStore.Load(dir.Path)) after = new GenerationPipeline(model).Generate(StarRequest(9)).ToList();
        for (int si = 0; si < before.Count; si++) Assert.Equal(before[si].Tokens[0], after[si].Tokens[0]);
        Assert.Equal(before[^1].Images![0].Pixels, after[^1].Images![0].Pixels);
    }

    [Fact]
    public void Star_TextConditioningIsExactlyTheClipTowerOutput()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: false);
        Import(dir.Path);
        using var model = ModelStore.Load(dir.Path);
        using var direct = ClipTextModel.Load(Path.Combine(dir.Path, "text_encoder"), Path.Combine(dir.Path, "tokenizer"));
        // extract_text_features([prompt] + [""]): the CFG batch the reference builds.
        using var a = model.TextEncoder!.Encode(["a cat", ""]);
        using var b = direct.Encode(["a cat", ""]);
        Assert.True(a.HiddenStates.allclose(b.HiddenStates, 0, 0));
        Assert.True(a.Pooled.allclose(b.Pooled, 0, 0));
        Assert.Equal(new float[] { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, a.AttentionMask[1].data<float>().ToArray());
        Assert.Equal(new long[] { 2, 16 }, a.Pooled.shape);
    }

    [Fact]
    public void Var_OfficialLayoutImportsLoadsAndGeneratesGuidedAndGuidanceFree()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteVarFolder(dir.Path);
        Import(dir.Path);
        using var model = ModelStore.Load(dir.Path);
        Assert.Null(model.TextEncoder);
        var pipeline = new GenerationPipeline(model);
        var guided = pipeline.Generate(new GenerationRequest { ClassLabels = [207, 3], Seed = 1, Cfg = 4, TopK = 20, TopP = 0.95, Previews = PreviewMode.None }).ToList();
        // CCA-style guidance-free sampling runs the same weights with half the rows.
        var free = pipeline.Generate(new GenerationRequest { ClassLabels = [207, 3], Seed = 1, Cfg = 0, TopK = 20, TopP = 0.95, Previews = PreviewMode.None }).ToList();
        Assert.Equal(4, guided.Count);
        Assert.Equal(2, guided[^1].Images!.Count);
        Assert.Equal(free[0].Tokens[0], guided[0].Tokens[0]); // scale 0 is unguided (t = cfg * 0 / (S-1))
    }

    [Fact]
    public void StarAndVar_ShareTheVaeFileAndDecodeTokensIdentically()
    {
        using var dir = new TempDir();
        string star = Path.Combine(dir.Path, "star"), var = Path.Combine(dir.Path, "var");
        OfficialFiles.WriteStarFolder(star, sampler: false);
        OfficialFiles.WriteVarFolder(var);
        // The same VAE file in both folders, as the official releases share vae_ch160v4096z32.pth.
        File.Copy(Path.Combine(star, "vae_ch16v64z8.pth"), Path.Combine(var, "vae_ch16v64z8.pth"), overwrite: true);
        Import(star);
        Import(var);
        using var s = ModelStore.Load(star);
        using var v = ModelStore.Load(var);
        var tokens = OfficialFiles.TinyPatchNums.Select(pn => Enumerable.Range(0, pn * pn).Select(i => (long)((i * 7 + pn) % 64)).ToArray()).ToList();
        using var scope = NewDisposeScope();
        var maps = tokens.Select((t, i) => tensor(t, [1, t.Length])).ToList();
        var imgS = s.Vae.IdxBlToImg(maps, sameShape: true, lastOne: true)[0];
        var imgV = v.Vae.IdxBlToImg(maps, sameShape: true, lastOne: true)[0];
        Assert.Equal(new long[] { 1, 3, 8, 8 }, imgS.shape);
        Assert.True(imgS.allclose(imgV, 0, 0));
        Assert.True(imgS.std().item<float>() > 0); // a real picture, not a constant both paths would agree on
    }
}
