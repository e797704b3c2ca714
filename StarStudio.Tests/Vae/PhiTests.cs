using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using static StarStudio.Tests.Vae.VaeTestConfigs;

namespace StarStudio.Tests.Vae;

public class PhiTests
{
    [Fact]
    public void Ticks_FourPhisSpanOneTwelfthToElevenTwelfths()
    {
        // K = 4: linspace(1/12, 11/12, 4) = 3/36, 13/36, 23/36, 33/36.
        var ticks = PhiSelector.Ticks(4);
        Assert.Equal(4, ticks.Length);
        Assert.Equal(3.0 / 36, ticks[0], 12);
        Assert.Equal(13.0 / 36, ticks[1], 12);
        Assert.Equal(23.0 / 36, ticks[2], 12);
        Assert.Equal(1 - 1.0 / 3 / 4, ticks[3]);   // numpy sets the last tick to stop exactly
    }

    [Fact]
    public void Ticks_OtherCountsUseHalves()
    {
        // K = 3: linspace(1/6, 5/6, 3) = 1/6, 1/2, 5/6; K = 1: linspace(0.5, 0.5, 1).
        var three = PhiSelector.Ticks(3);
        Assert.Equal(1.0 / 6, three[0], 12);
        Assert.Equal(0.5, three[1], 12);
        Assert.Equal(5.0 / 6, three[2], 12);
        Assert.Equal([0.5], PhiSelector.Ticks(1));
    }

    [Fact]
    public void PartiallyShared_TenScalesPickPhis0011122333()
    {
        // Positions si/9 against ticks 3/36, 13/36, 23/36, 33/36; the midpoints between ticks are 2/9, 1/2, 7/9.
        // si = 2 and si = 7 sit exactly on a midpoint: in doubles |tick1 - 2/9| is 6e-17 smaller than |tick0 - 2/9|
        // and |tick3 - 7/9| smaller than |tick2 - 7/9|, so numpy picks Phi 1 and Phi 3 there. The port reproduces
        // numpy's linspace (i * step + start, last = stop) to get the same rounding.
        using var q = new VectorQuantizer2(VqVaeConfig.Official, META);
        var picks = Enumerable.Range(0, 10).Select(si => q.PhiIndexFor(si, 10)).ToArray();
        Assert.Equal([0, 0, 1, 1, 1, 2, 2, 3, 3, 3], picks);
        Assert.Same(q.QuantResi.At(1), q.PhiFor(4, 10));
    }

    [Fact]
    public void PartiallyShared_FourteenScalesOf1024Schedule()
    {
        // si/13 for si = 0..13 against midpoints 2/9, 1/2, 7/9 (= 2.9, 6.5, 10.1 in units of 1/13).
        using var q = new VectorQuantizer2(VqVaeConfig.OfficialFor(1024), META);
        var picks = Enumerable.Range(0, 14).Select(si => q.PhiIndexFor(si, 14)).ToArray();
        Assert.Equal([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3], picks);
    }

    [Fact]
    public void NearestTick_ExactTieGoesToTheFirst()
    {
        Assert.Equal(0, PhiSelector.NearestTick([0.25, 0.75], 0.5));   // numpy.argmin returns the first minimum
        Assert.Equal(1, PhiSelector.NearestTick([0.25, 0.75], 0.5 + 1e-12));
    }

    [Fact]
    public void NonShared_EachScaleGetsItsOwnPhi()
    {
        using var q = new VectorQuantizer2(VqVaeConfig.Official with { ShareQuantResi = 0 }, META);
        Assert.Equal(10, q.QuantResi.Count);
        Assert.Equal(Enumerable.Range(0, 10), Enumerable.Range(0, 10).Select(si => q.PhiIndexFor(si, 10)));
    }

    [Fact]
    public void Shared_EveryScaleGetsTheOnlyPhi()
    {
        using var q = new VectorQuantizer2(VqVaeConfig.Official with { ShareQuantResi = 1 }, META);
        Assert.All(Enumerable.Range(0, 10), si => Assert.Same(q.QuantResi.At(0), q.PhiFor(si, 10)));
    }

    [Fact]
    public void Phi_IsHalfConvPlusHalfInput()
    {
        using var phi = new Phi(2, 0.5);
        using (no_grad())
        {
            // conv: out channel 0 = 3 * (centre of in channel 1) + 1; out channel 1 = 0 * x - 2.
            phi.Weight.zero_();
            phi.Weight[0, 1, 1, 1] = tensor(3.0f);
            phi.Bias.copy_(tensor(new[] { 1.0f, -2.0f }));
        }
        var x = tensor(new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f }).view(1, 2, 2, 2);   // ch0 = 1..4, ch1 = 5..8
        using var y = phi.call(x);
        // ch0: 0.5*x0 + 0.5*(3*x1 + 1); ch1: 0.5*x1 + 0.5*(-2)
        float[] expected = [0.5f * 1 + 0.5f * 16, 0.5f * 2 + 0.5f * 19, 0.5f * 3 + 0.5f * 22, 0.5f * 4 + 0.5f * 25,
                            2.5f - 1, 3f - 1, 3.5f - 1, 4f - 1];
        Assert.Equal(expected, Values(y));
    }

    [Fact]
    public void Phi_ZeroQuantResiIsIdentity()
    {
        using var q = new VectorQuantizer2(VaeTestConfigs.Tiny with { QuantResi = 0 });
        var x = randn(1, 4, 4, 4);
        using var y = q.PhiFor(2, 4).call(x);
        Assert.Equal(Values(x), Values(y));
        Assert.Empty(q.QuantResi.parameters());
    }

    [Fact]
    public void Phi_InitialisedLikeConv2d()
    {
        using var phi = new Phi(32, 0.5);
        // kaiming_uniform(a=sqrt 5) and the bias both give U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 32*9.
        double bound = 1 / Math.Sqrt(32 * 9);
        Assert.InRange(phi.Weight.abs().max().item<float>(), bound * 0.9, bound + 1e-7);
        Assert.InRange(phi.Bias.abs().max().item<float>(), 0, bound + 1e-7);
    }
}
