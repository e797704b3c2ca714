using StarStudio.Model.Benchmarks;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Models;
using StarStudio.Model.Presets;
using StarStudio.Model.Text.Clip;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Official;

[Collection(TorchStateCollection.Name)]
public sealed class MemoryAndCatalogTests
{
    [Fact]
    public void Estimate_VarD16_KvCacheAndWeightsByHand()
    {
        var e = MemoryEstimator.ForPreset(OfficialPresets.Get("var-d16"), batch: 1, cfg: true);
        Assert.Equal(2, e.Rows);
        // 16 blocks x (K, V) x 2 rows x 680 tokens x 1024 wide x 4 bytes, plus one block's copy while the cache grows.
        Assert.Equal(16L * 2 * 2 * 680 * 1024 * 4 + 2L * 2 * 680 * 1024 * 4, e.KvCacheBytes);
        // 310,283,520 parameters + buffers lvl_1L [1,680], attn_bias_for_masking [1,1,680,680] and 16 zero_k_bias [1024], fp32.
        long transformer = (310_283_520L + 680 + 680 * 680 + 16 * 1024) * 4;
        long vae = MemoryEstimator.StateBytes(d => new Model.Vae.VQVAE(Model.Vae.VqVaeConfig.Official, d));
        Assert.Equal(transformer + vae, e.WeightsBytes);
        Assert.Equal(e.WeightsBytes + e.RuntimeBytes + Math.Max(e.KvCacheBytes + e.ActivationBytes, e.DecodeBytes), e.TotalBytes);
    }

    [Fact]
    public void Estimate_GuidanceFreeHalvesTheRowsAndTheCache()
    {
        var preset = OfficialPresets.Get("cca-var-d16");
        var guided = MemoryEstimator.ForPreset(preset, batch: 2, cfg: true);
        var free = MemoryEstimator.ForPreset(preset, batch: 2, cfg: false);
        Assert.Equal((4, 2), (guided.Rows, free.Rows));
        Assert.Equal(guided.KvCacheBytes, 2 * free.KvCacheBytes);
        Assert.Equal(guided.WeightsBytes, free.WeightsBytes);
    }

    [Fact]
    public void Estimate_StarD30At1024IsDominatedByWeightsAndCache()
    {
        var e = MemoryEstimator.ForPreset(OfficialPresets.Get("star-d30-1024-sampler"));
        // 30 blocks x 2 x 2 rows x 9451 tokens x 1920 x 4 bytes = 8.1 GiB of self-attention cache alone.
        Assert.True(e.KvCacheBytes > 30L * 2 * 2 * 9451 * 1920 * 4);
        Assert.InRange(e.WeightsBytes / (double)(1L << 30), 8.0, 9.5); // ~2.0 B transformer + 0.34 B CLIP + VAE, fp32
    }

    [Fact]
    public void EnsureFits_RefusesWithTheEstimateInTheMessage()
    {
        var e = MemoryEstimator.ForPreset(OfficialPresets.Get("var-d16"));
        var ex = Assert.Throws<ModelTooLargeException>(() => MemoryEstimator.EnsureFits(e, 1L << 30));
        Assert.Contains("var-d16", ex.Message);
        Assert.Contains("1.0 GiB is available", ex.Message);
        Assert.Contains("KV cache", ex.Message);
        MemoryEstimator.EnsureFits(e, e.TotalBytes); // exactly enough is enough
        Assert.True(MemoryEstimator.AvailableBytes() > 0);
    }

    [Fact]
    public void Catalog_ListsReadyNeedsImportAndInvalidFolders()
    {
        using var root = new TempDir();
        string ready = Path.Combine(root.Path, "star-tiny"), raw = Path.Combine(root.Path, "var-raw"), broken = Path.Combine(root.Path, "broken");
        OfficialFiles.WriteStarFolder(ready, sampler: false);
        OfficialImporter.WriteManifest(OfficialImporter.Inspect(ready, new ImportOptions { PatchNums = OfficialFiles.TinyPatchNums }));
        OfficialFiles.WriteVarFolder(raw);
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, ModelManifest.FileName), "{\"format_version\": 1, \"kind\": \"star\"");
        Directory.CreateDirectory(Path.Combine(root.Path, "empty"));

        var entries = new ModelCatalog([root.Path]).List();
        Assert.Equal(["broken", "star-tiny", "var-raw"], entries.Select(e => e.Id));
        var star = entries.Single(e => e.Id == "star-tiny");
        Assert.Equal((ModelStatus.Ready, "star"), (star.Status, star.Kind));
        Assert.True(star.SizeBytes > new FileInfo(Path.Combine(ready, "ar-ckpt-tiny-ep1-iter10.pth")).Length);
        var clipBytes = MemoryEstimator.StateBytes(d => new ClipTextModel(OfficialFiles.TinyClipConfig(), device: d));
        Assert.True(star.Memory!.WeightsBytes > clipBytes);
        Assert.Equal(ModelStatus.NeedsImport, entries.Single(e => e.Id == "var-raw").Status);
        var bad = entries.Single(e => e.Id == "broken");
        Assert.Equal(ModelStatus.Invalid, bad.Status);
        Assert.NotNull(bad.Problem);
    }

    [Fact]
    public void Catalog_ConfinesPathsToItsRoots()
    {
        using var root = new TempDir();
        using var outside = new TempDir();
        Directory.CreateDirectory(Path.Combine(root.Path, "m"));
        var catalog = new ModelCatalog([root.Path]);
        Assert.Equal(Path.Combine(root.Path, "m"), catalog.Resolve("m"));
        Assert.Throws<UnauthorizedAccessException>(() => catalog.Resolve("../" + Path.GetFileName(outside.Path)));
        Assert.Throws<UnauthorizedAccessException>(() => catalog.Resolve(outside.Path));
        Assert.Throws<UnauthorizedAccessException>(() => catalog.Load("missing"));
    }

    [Fact]
    public void Catalog_LoadReportsProgressAndRefusesWhenMemoryIsShort()
    {
        using var root = new TempDir();
        string folder = Path.Combine(root.Path, "var-tiny");
        OfficialFiles.WriteVarFolder(folder);
        var catalog = new ModelCatalog([root.Path]);
        var report = catalog.Import("var-tiny", new ImportOptions { PatchNums = OfficialFiles.TinyPatchNums });
        Assert.True(report.Ok, string.Join("\n", report.Lines()));

        Assert.Throws<ModelTooLargeException>(() => catalog.Load("var-tiny", availableBytes: 1 << 20));
        var seen = new List<ModelLoadProgress>();
        using var model = catalog.Load("var-tiny", progress: new SyncProgress(seen.Add));
        Assert.Equal(1.0, seen[^1].Fraction);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second.Fraction >= p.First.Fraction));
        Assert.Contains(seen, p => p.Stage == "transformer");
    }

    [Fact]
    public void TimeEstimate_ScalesTheMeasuredLayerRateToTheWholeModel()
    {
        var config = OfficialFiles.TinyStar(sampler: false) with { Depth = 6, Width = 128, Heads = 2 };
        var t = TimeEstimator.MeasureStar("tiny", config, batch: 1, cfg: true, matmulSize: 256);
        Assert.Equal(2, t.Rows);
        Assert.Equal([1, 2, 3, 4], t.MeasuredPatchNums);
        var shape = new TransformerShape(6, 128, 4.0, 64, config.PatchNums, MemoryEstimator.ClipTokens, 16, AdaLn: false);
        Assert.Equal(TransformerFlops.Total(shape, 2) / 1e9, t.TotalGflop, 6);
        Assert.True(t.LayerMs > 0 && t.LayerGflops > 0 && double.IsFinite(t.EstimatedSeconds));
        Assert.Equal(t.TotalGflop / t.LayerGflops, t.EstimatedSeconds, 6);
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    sealed class SyncProgress(Action<ModelLoadProgress> report) : IProgress<ModelLoadProgress>
    {
        public void Report(ModelLoadProgress value) => report(value);
    }
}
