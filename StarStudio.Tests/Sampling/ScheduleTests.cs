using StarStudio.Model.Sampling;
using static TorchSharp.torch;

namespace StarStudio.Tests.Sampling;

public class ScheduleTests
{
    [Theory]
    [InlineData(8, 13)]
    [InlineData(8, 16)]
    [InlineData(8, 32)]
    [InlineData(15, 36)]
    [InlineData(15, 48)]
    [InlineData(15, 64)]
    public void MaskScheduleCounts_SumToAllTokensOfTheScale(int steps, int pn)
    {
        var counts = MaskSchedule.Counts(steps, pn);
        Assert.Equal(steps, counts.Length);
        Assert.Equal(pn * pn, counts.Sum());
        Assert.All(counts, c => Assert.True(c >= 1));
    }

    [Fact]
    public void MaskScheduleCounts_MatchAHandComputedArccosSchedule()
    {
        // 4 steps, 4x4 = 16 tokens: r = 1, 2/3, 1/3, 0; arccos(r)/(pi/2) = 0, 0.53544, 0.78365, 1 (sum 2.31909);
        // normalised * 16 = 0, 3.694, 5.407, 6.899 -> rounded 0 (-> 1), 4, 5, 7 = 17 -> the last absorbs -1 -> 6.
        Assert.Equal([1, 4, 5, 6], MaskSchedule.Counts(4, 4));
    }

    [Fact]
    public void MaskScheduleSteps_Follow1024Version()
    {
        Assert.Equal(8, MaskSchedule.StepsFor(9, StableSamplerVersion.V1024));
        Assert.Equal(8, MaskSchedule.StepsFor(12, StableSamplerVersion.V1024));
        Assert.Equal(15, MaskSchedule.StepsFor(13, StableSamplerVersion.V1024));
        Assert.Equal(8, MaskSchedule.StepsFor(13, StableSamplerVersion.Standard));
    }

    [Fact]
    public void GuidanceWeight_RampsLinearlyFromZero()
    {
        Assert.Equal(0, GuidanceSchedule.WeightAt(4, 0, 10));
        Assert.Equal(4.0 / 9, GuidanceSchedule.WeightAt(4, 1, 10), 12);
        Assert.Equal(4, GuidanceSchedule.WeightAt(4, 9, 10), 12);
    }

    [Fact]
    public void Combine_AppliesOnePlusTCondMinusTUncond_AndPassesThroughWithoutGuidance()
    {
        using var logits = tensor(new float[] { 2, 4, 1, 1 }).view(2, 1, 2); // row 0 cond [2,4], row 1 uncond [1,1]
        using var guided = GuidanceSchedule.Combine(logits, 0.5, 1);
        Assert.Equal([2.5f, 5.5f], guided.data<float>().ToArray()); // 1.5*[2,4] - 0.5*[1,1]
        Assert.Same(logits, GuidanceSchedule.Combine(logits, 3, 2));
        Assert.Throws<ArgumentException>(() => GuidanceSchedule.Combine(logits, 1, 3));
    }
}
