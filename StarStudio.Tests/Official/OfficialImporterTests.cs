using StarStudio.Model.Checkpoints;
using StarStudio.Model.Models;
using StarStudio.Model.Presets;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Official;

[Collection(TorchStateCollection.Name)]
public sealed class OfficialImporterTests
{
    static readonly ImportOptions Tiny = new() { PatchNums = OfficialFiles.TinyPatchNums };

    [Fact]
    public void Inspect_StarFolder_DetectsEverythingFromShapes()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: true);
        var report = OfficialImporter.Inspect(dir.Path, Tiny);
        Assert.True(report.Ok, string.Join("\n", report.Lines()));
        Assert.Equal(ModelKinds.Star, report.Kind);
        Assert.Equal(["trainer", "var_wo_ddp"], report.TransformerKeyPath);
        var star = report.Star!;
        Assert.Equal((2, 128, 2, 16, 64, 8, true, 1), (star.Depth, star.Width, star.Heads, star.TextDim, star.VocabSize, star.Cvae, star.StableSamplerHead, star.SamplerDepth));
        Assert.True(star.CrossAttentionBatchQuirk);
        Assert.Equal((16, 1, 16, 4), (report.Vae!.Ch, report.Vae.NumResBlocks, report.Vae.NormGroups, report.Vae.ShareQuantResi));
        Assert.Equal([1, 2], report.Vae.ChMult);
        Assert.Equal(3, report.Checks.Count);
        Assert.Null(report.Preset); // depth 2 is no released size
        // The VAE's training statistic was written for 10 scales: noted and skipped, not a failure.
        Assert.Contains(report.Notes, n => n.Contains("ema_vocab_hit_SV"));
    }

    [Fact]
    public void Inspect_VarFolder_ReadsAPlainStateDictWithBuffers()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteVarFolder(dir.Path);
        var report = OfficialImporter.Inspect(dir.Path, Tiny);
        Assert.True(report.Ok, string.Join("\n", report.Lines()));
        Assert.Equal(ModelKinds.Var, report.Kind);
        Assert.Empty(report.TransformerKeyPath);
        Assert.Equal((2, 128, false, 1000), (report.Var!.Depth, report.Var.Width, report.Var.SharedAln, report.Var.NumClasses));
    }

    [Fact]
    public void Inspect_WrongTextTowerWidth_IsReported()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: false);
        string config = Path.Combine(dir.Path, "text_encoder", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"hidden_size\": 16", "\"hidden_size\": 32"));
        var report = OfficialImporter.Inspect(dir.Path, Tiny);
        Assert.False(report.Ok);
        Assert.Contains(report.Errors, e => e.Contains("32 wide") && e.Contains("expects 16"));
        var text = report.Checks.Single(c => c.Role == ModelFileRoles.TextEncoder);
        Assert.Contains(text.ShapeMismatches, m => m.Key == "text_model.final_layer_norm.weight");
    }

    [Fact]
    public void Inspect_ForcedPresetReportsEveryMismatchedShape()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteVarFolder(dir.Path);
        var report = OfficialImporter.Inspect(dir.Path, new ImportOptions { Preset = "var-d16" });
        Assert.False(report.Ok);
        var check = report.Checks.Single(c => c.Role == ModelFileRoles.Transformer);
        Assert.Contains(check.ShapeMismatches, m => m.Key == "pos_start" && m.CheckpointShape.SequenceEqual([1L, 1, 128]) && m.ModuleShape.SequenceEqual([1L, 1, 1024]));
        Assert.Contains("blocks.15.attn.mat_qkv.weight", check.Missing);
        var text = string.Join("\n", report.Lines());
        Assert.Contains("FAIL", text);
        Assert.Contains("blocks.*.", text); // block keys folded into one line
    }

    [Fact]
    public void Inspect_MissingFilesAreClearErrors()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path);
        Directory.Delete(Path.Combine(dir.Path, "tokenizer"), recursive: true);
        File.Delete(Path.Combine(dir.Path, "vae_ch16v64z8.pth"));
        var report = OfficialImporter.Inspect(dir.Path, Tiny);
        Assert.Contains(report.Errors, e => e.Contains("vae_ch160v4096z32.pth"));
        Assert.Throws<InvalidOperationException>(() => OfficialImporter.WriteManifest(report));
    }

    [Fact]
    public void WriteManifest_NamesKindPresetFilesAndKeyPath()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path);
        var report = OfficialImporter.Inspect(dir.Path, Tiny);
        OfficialImporter.WriteManifest(report, new ImportOptions { Name = "tiny-official" });
        var manifest = ModelManifest.Load(dir.Path);
        Assert.Equal(("star", "tiny-official"), (manifest.Kind, manifest.Name));
        Assert.Equal("ar-ckpt-tiny-ep1-iter10.pth", manifest.Files[ModelFileRoles.Transformer]);
        Assert.Equal("text_encoder/model.safetensors", manifest.Files[ModelFileRoles.TextEncoder]);
        Assert.Equal("trainer/var_wo_ddp", manifest.KeyPaths![ModelFileRoles.Transformer]);
        Assert.Equal(("clip", "tokenizer/vocab.json", "tokenizer/merges.txt", 10, 16),
            (manifest.TextEncoder!.Kind, manifest.TextEncoder.VocabularyFile, manifest.TextEncoder.MergesFile, manifest.TextEncoder.MaxTokens, manifest.TextEncoder.Dim));
    }

    [Theory]
    [InlineData("ar-ckpt-d16-ep3.pth", "star-d16-256")]
    [InlineData("var_rope_d16_512-ar-ckpt-ep1.pth", "star-d16-512")]
    public void DetectStar_256And512ShareShapesSoTheFileNameDecides(string fileName, string expected)
    {
        // Only the shapes matter for detection: a meta-device model's keys written as a safetensors-free header check.
        var shapes = MetaShapes(Model.Transformers.StarConfig.Official(16, 256));
        var report = DetectFromShapes(shapes, fileName);
        Assert.Equal(expected, report.Preset?.Name);
    }

    static Dictionary<string, long[]> MetaShapes(Model.Transformers.StarConfig config)
    {
        using var m = new Model.Transformers.StarTransformer(config, new TorchSharp.torch.Device(TorchSharp.DeviceType.META));
        return CheckpointShapes.Of(m);
    }

    static ImportReport DetectFromShapes(Dictionary<string, long[]> shapes, string fileName) =>
        OfficialImporter.DetectTransformer(new CheckpointShapes(fileName, CheckpointFormat.PyTorchZip, ["trainer", "var_wo_ddp"], shapes, 0), new ImportOptions());

    [Theory]
    [InlineData("star-d30-1024-sampler", "var_rope_d30_1024_sampler_mask-ar-ckpt.safetensors")]
    [InlineData("star-d16-512", "star_d16_512-ar-ckpt.safetensors")]
    [InlineData("var-d36", "var_d36.safetensors")]
    [InlineData("cca-var-d16", "var_d16_cca.safetensors")]
    public void Inspect_FullSizeOfficialShapesDetectTheirPreset(string preset, string fileName)
    {
        // Full-size headers over sparse files: every real key and shape, no bytes on disk and no memory used.
        using var dir = new TempDir();
        var p = OfficialPresets.Get(preset);
        var meta = new TorchSharp.torch.Device(TorchSharp.DeviceType.META);
        using (var t = p.Star is { } s ? (TorchSharp.torch.nn.Module)new Model.Transformers.StarTransformer(s, meta) : new Model.Transformers.VarTransformer(p.Var!, meta))
            SparseSafetensors.Write(Path.Combine(dir.Path, fileName), CheckpointShapes.Of(t));
        using (var vae = new Model.Vae.VQVAE(Model.Vae.VqVaeConfig.Official, meta)) // trained at 256 px: 10-scale statistic
            SparseSafetensors.Write(Path.Combine(dir.Path, "vae_ch160v4096z32.safetensors"), CheckpointShapes.Of(vae));
        if (p.Star is not null)
        {
            var clip = new Model.Text.Clip.ClipTextConfig(); // SD 2.1
            Directory.CreateDirectory(Path.Combine(dir.Path, "text_encoder"));
            File.WriteAllText(Path.Combine(dir.Path, "text_encoder", "config.json"),
                """{"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 23, "num_attention_heads": 16, "hidden_act": "gelu", "vocab_size": 49408}""");
            using (var c = new Model.Text.Clip.ClipTextModel(clip, device: meta))
                SparseSafetensors.Write(Path.Combine(dir.Path, "text_encoder", "model.safetensors"), CheckpointShapes.Of(c));
            OfficialFiles.WriteTokenizer(dir.Path, maxLength: 77);
        }
        var report = OfficialImporter.Inspect(dir.Path);
        Assert.True(report.Ok, string.Join("\n", report.Lines()));
        Assert.Equal(preset, report.Preset?.Name);
        Assert.All(report.Checks, c => Assert.True(c.Matched > 10));
    }

    [Fact]
    public void Presets_CoverTheReleasedModels()
    {
        Assert.Equal(12 + 5 + 4, OfficialPresets.All.Count);
        var d30 = OfficialPresets.Get("star-d30-1024-sampler");
        Assert.Equal((1920, 14, true, 9, 10000.0, 64.0), (d30.Width, d30.PatchNums.Count, d30.HasSamplerHead, d30.Star!.SampleFromIdx, d30.Star.RopeTheta, d30.Star.RopeNorm!.Value));
        Assert.Equal((4.0, 600, 0.8, true), (d30.Defaults.Cfg, d30.Defaults.TopK, d30.Defaults.TopP, d30.Defaults.StableSampling));
        Assert.Equal(64, d30.Vae.VPatchNums[^1]);
        var d36 = OfficialPresets.Get("var-d36");
        Assert.True(d36.Var!.SharedAln);
        Assert.Equal(512, d36.Resolution);
        Assert.Equal(0.0, OfficialPresets.Get("cca-var-d16").Defaults.Cfg);
        Assert.Throws<ArgumentException>(() => OfficialPresets.Get("star-d24-256"));
    }

    [Fact]
    public void Presets_AreConsistentWithTheirVae()
    {
        foreach (var p in OfficialPresets.All)
        {
            p.Star?.Validate();
            p.Var?.Validate();
            p.Vae.Validate();
            Assert.Equal(p.PatchNums, p.Vae.VPatchNums);
            Assert.Equal(p.Resolution, p.Vae.ImageSide);
            Assert.Equal(64 * p.Depth, p.Width);
            Assert.Equal(p.HasSamplerHead, p.Defaults.StableSampling);
            Assert.Equal(p.Kind == "star" ? 1024 : 0, p.TextDim);
        }
    }
}
