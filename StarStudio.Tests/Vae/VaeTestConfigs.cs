using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Vae;

static class VaeTestConfigs
{
    /// <summary>2x downsampling, 4 scales on a 4x4 latent (8x8 images), 16 codes of width 4: milliseconds per call.</summary>
    public static VqVaeConfig Tiny => new()
    {
        VocabSize = 16, Cvae = 4, Ch = 8, ChMult = [1, 2], NumResBlocks = 1, NormGroups = 4,
        VPatchNums = [1, 2, 3, 4],
    };

    public static Tensor RandomImages(long B, long side, long seed)
    {
        var g = new Generator((ulong)seed);
        return rand([B, 3, side, side], generator: g).mul_(2).sub_(1);
    }

    public static void AssertClose(Tensor expected, Tensor actual, double atol, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double maxDiff = (expected - actual).abs().max().item<float>();
        Assert.True(maxDiff <= atol, $"{what}: max |difference| {maxDiff} > {atol}");
    }

    public static float[] Values(Tensor t) => t.contiguous().to_type(ScalarType.Float32).data<float>().ToArray();

    public static long[] Longs(Tensor t) => t.contiguous().to_type(ScalarType.Int64).data<long>().ToArray();
}
