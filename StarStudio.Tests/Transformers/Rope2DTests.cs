using System.Numerics;
using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

public class Rope2DTests
{
    static float[,] ToArray(Tensor t)
    {
        var data = t.data<float>().ToArray();
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        var a = new float[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                a[i, j] = data[i * cols + j];
        return a;
    }

    [Fact]
    public void Angles_OneByOneScaleIsAllZero()
    {
        using var a = Rope2D.Angles(1, 64, 10000, 64);
        Assert.Equal([1L, 32], a.shape);
        Assert.All(a.data<float>().ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Angles_TwoByTwoScaleSitsOnTheNormalisedCorners()
    {
        // Head dim 8: two frequencies f0 = 1, f1 = 10000^(-4/8) = 0.01; norm 64 puts the 2x2 tokens at
        // (x, y) = (0,0), (64,0), (0,64), (64,64). Columns: x*f0, x*f1, y*f0, y*f1.
        using var t = Rope2D.Angles(2, 8, 10000, 64);
        var a = ToArray(t);
        float[,] expected =
        {
            { 0, 0, 0, 0 },
            { 64, 0.64f, 0, 0 },
            { 0, 0, 64, 0.64f },
            { 64, 0.64f, 64, 0.64f },
        };
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(expected[i, j], a[i, j], 1e-5f);
    }

    [Fact]
    public void Angles_FrequenciesAreThetaToTheMinusFourIOverD()
    {
        // Head dim 16 has 4 frequencies theta^(-4i/16); a 3x3 scale normalised to 2 keeps the integer grid (max 2).
        using var t = Rope2D.Angles(3, 16, 100, 2);
        var a = ToArray(t);
        for (int token = 0; token < 9; token++)
        {
            int x = token % 3, y = token / 3;
            for (int i = 0; i < 4; i++)
            {
                double f = Math.Pow(100, -4.0 * i / 16);
                Assert.Equal(x * f, a[token, i], 1e-5);
                Assert.Equal(y * f, a[token, 4 + i], 1e-5);
            }
        }
        // Without normalisation (null) the positions stay integer even on a large scale; with norm 64 a 16x16 scale
        // spans [0, 64]: token 15 (x = 15, y = 0) has x angle 64 * f0 = 64.
        using var raw = Rope2D.Angles(16, 16, 100, null);
        using var normed = Rope2D.Angles(16, 16, 100, 64);
        Assert.Equal(15f, raw[15, 0].item<float>(), 1e-5f);
        Assert.Equal(64f, normed[15, 0].item<float>(), 1e-4f);
        Assert.Equal(64f, normed[255, 4].item<float>(), 1e-4f);
    }

    [Fact]
    public void Build_ConcatenatesScalesInOrder()
    {
        using var rope = Rope2D.Build([1, 2, 3], 8, 10000, 64);
        Assert.Equal([14L, 4], rope.Cos_Lc.shape);
        using var a3 = Rope2D.Angles(3, 8, 10000, 64);
        using var expectedCos = a3.cos();
        Assert.True(rope.Cos_Lc.narrow(0, 5, 9).allclose(expectedCos));
        Assert.Equal(1f, rope.Cos_Lc[0, 0].item<float>());
        Assert.Equal(0f, rope.Sin_Lc[0, 3].item<float>());
    }

    [Fact]
    public void Apply_RotatesAdjacentChannelPairsAsComplexNumbers()
    {
        // x [1, 1, 2 tokens, 4 channels]: channel pairs (0,1) and (2,3) are complex numbers multiplied by e^(i angle).
        float[] xs = [1, 2, 3, 4, -1, 0.5f, 2, -3];
        float[] angles = [0.3f, 1.1f, -0.7f, 2.5f]; // [token, pair]
        using var x = tensor(xs, [1, 1, 2, 4]);
        using var ang = tensor(angles, [2, 2]);
        using var cos = ang.cos();
        using var sin = ang.sin();
        using var y = Rope2D.Apply(x, cos, sin);
        var got = y.data<float>().ToArray();
        for (int token = 0; token < 2; token++)
            for (int pair = 0; pair < 2; pair++)
            {
                var z = new Complex(xs[token * 4 + pair * 2], xs[token * 4 + pair * 2 + 1]) * Complex.FromPolarCoordinates(1, angles[token * 2 + pair]);
                Assert.Equal(z.Real, got[token * 4 + pair * 2], 1e-5);
                Assert.Equal(z.Imaginary, got[token * 4 + pair * 2 + 1], 1e-5);
            }
    }

    [Fact]
    public void Star_RopeTablesFollowTheConfig()
    {
        using var model = new StarTransformer(TinyModels.Star());
        var (cos, sin) = model.RopeTables;
        Assert.NotNull(cos);
        using var expected = Rope2D.Build([1, 2, 3], 16, 10000, 64);
        Assert.True(cos!.allclose(expected.Cos_Lc) && sin!.allclose(expected.Sin_Lc));
    }
}
