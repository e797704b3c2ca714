using StarStudio.Model.Benchmarks;
using StarStudio.Model.Generation;

namespace StarStudio.Tests.Benchmarks;

public class TransformerFlopsTests
{
    [Fact]
    public void ForScale_CountsEveryMatmulByHand()
    {
        // C = 4, ratio 2 (hidden 8), V = 10, one block, scales 1 and 2, 3 text tokens of width 5, one row.
        var shape = new TransformerShape(1, 4, 2, 10, [1, 2], 3, 5, AdaLn: false);
        // Scale 0 (l = 1, context 1): qkv 2*1*4*12 = 96; qk 2*1*1*4 = 8; av 8; proj 32;
        // cross: q 32, scores+sum 2*1*3*4*2 = 48, proj 32, text kv once 2*3*5*8 = 240; ffn 2*1*4*8*2 = 128; head 2*1*4*10 = 80.
        Assert.Equal(96 + 8 + 8 + 32 + 32 + 48 + 32 + 240 + 128 + 80, TransformerFlops.ForScale(shape, 0, 1));
        // Scale 1 (l = 4, context 5): qkv 384; qk 160; av 160; proj 128; cross q 128 + 192 + proj 128; ffn 512; head 320. Two rows double it.
        Assert.Equal(2.0 * (384 + 160 + 160 + 128 + 128 + 192 + 128 + 512 + 320), TransformerFlops.ForScale(shape, 1, 2));
        // A 3x3 local mix adds 2 * l * C * 9 to the FFN: 2*4*4*9 = 288 at scale 1.
        Assert.Equal(2.0 * (384 + 160 + 160 + 128 + 128 + 192 + 128 + 512 + 288 + 320), TransformerFlops.ForScale(shape with { LocalMixKernel = 3 }, 1, 2));
    }

    [Fact]
    public void Total_OfStarD16At256_IsAboutTwoParametersPerTokenPerRow()
    {
        var cfg = StarStudio.Model.Transformers.StarConfig.D16(256);
        var shape = new TransformerShape(cfg.Depth, cfg.Width, cfg.MlpRatio, cfg.VocabSize, cfg.PatchNums, 77, cfg.TextDim, AdaLn: false);
        double flops = TransformerFlops.Total(shape, 2);
        // Blocks hold ~16 C^2 weights each (qkv 3, proj 1, cross q/proj 2, ffn 8) plus the head: 2 FLOPs per weight per token.
        double weights = cfg.Depth * 14.0 * cfg.Width * cfg.Width + cfg.Width * cfg.VocabSize;
        double rough = 2 * weights * 680 * 2;
        Assert.InRange(flops / rough, 1.0, 1.2);
    }
}

[Collection(TorchStateCollection.Name)]
public class PipelineBenchmarkTests
{
    [Fact]
    public void Run_OnATinyModel_ReportsConsistentFigures()
    {
        var report = PipelineBenchmark.Run(new BenchOptions("tiny-star", Batch: 1, Cfg: 2, Runs: 1, Device: "cpu", MatmulSize: 256));
        Assert.Equal(4, report.Scales.Count);
        Assert.True(report.MatmulGflops > 0);
        Assert.All(PipelineBenchmark.Modes, m => Assert.True(report.TotalMs[m] > 0));
        using var model = RandomModels.Create("tiny-star");
        var shape = PipelineBenchmark.ShapeOf(model);
        Assert.Equal(TransformerFlops.Total(shape, 2) / 1e9, report.TransformerGflop, 9);
        Assert.Equal(1 + 4 + 9 + 16, report.Tokens);
        Assert.All(report.Scales.Take(3), s => Assert.Equal(0, s.DecodeMs[PreviewMode.None]));
        Assert.True(report.Scales[^1].DecodeMs[PreviewMode.None] > 0);
        Assert.True(report.PeakRssMiB > 0);
    }
}
