using StarStudio.Model.Sampling;
using static TorchSharp.torch;

namespace StarStudio.Tests.Sampling;

public class TokenSamplerTests
{
    static float[] Row(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void TopKMask_KeepsTheKLargestAndTies()
    {
        using var logits = tensor(new float[] { 1, 5, 3, 5, 2, 4 }).view(1, 1, 6);
        TokenSampler.TopKMask_(logits, 3);
        // 3rd largest is 4: keeps 5, 5, 4.
        Assert.Equal([float.NegativeInfinity, 5, float.NegativeInfinity, 5, float.NegativeInfinity, 4], Row(logits));

        using var ties = tensor(new float[] { 2, 2, 2, 1 }).view(1, 1, 4);
        TokenSampler.TopKMask_(ties, 1);
        Assert.Equal([2f, 2f, 2f, float.NegativeInfinity], Row(ties));
    }

    [Fact]
    public void TopKMask_ZeroOrFullVocabularyIsANoOp()
    {
        using var logits = tensor(new float[] { 1, 2, 3 }).view(1, 1, 3);
        TokenSampler.TopKMask_(logits, 0);
        TokenSampler.TopKMask_(logits, 3);
        Assert.Equal([1f, 2f, 3f], Row(logits));
    }

    [Fact]
    public void TopPMask_RemovesTheTailWhoseMassIsAtMostOneMinusP()
    {
        // Probabilities 0.1, 0.2, 0.3, 0.4 (log-probs as logits). Ascending cumsum: 0.1, 0.3, 0.6, 1.0.
        var p = new[] { 0.1, 0.2, 0.3, 0.4 };
        using var logits = tensor(p.Select(v => (float)Math.Log(v)).ToArray()).view(1, 1, 4);
        using (var l = logits.clone())
        {
            TokenSampler.TopPMask_(l, 0.75); // remove cumsum <= 0.25: only 0.1
            Assert.Equal([true, false, false, false], Row(l).Select(float.IsNegativeInfinity).ToArray());
        }
        using (var l = logits.clone())
        {
            TokenSampler.TopPMask_(l, 0.5); // remove cumsum <= 0.5: 0.1 and 0.2 (0.3 sums to 0.6)
            Assert.Equal([true, true, false, false], Row(l).Select(float.IsNegativeInfinity).ToArray());
        }
        using (var l = logits.clone())
        {
            TokenSampler.TopPMask_(l, 0.01); // would remove everything; the most likely token always survives
            Assert.Equal([true, true, true, false], Row(l).Select(float.IsNegativeInfinity).ToArray());
        }
    }

    [Fact]
    public void Sample_IsRepeatableAndEachRowFollowsItsOwnSeed()
    {
        using var logits = randn(2, 50, 64, generator: new Generator(7));
        (int[] a0, int[] a1) = Draw(logits, 11, 22);
        (int[] b0, int[] b1) = Draw(logits, 11, 22);
        Assert.Equal(a0, b0);
        Assert.Equal(a1, b1);
        // Changing row 1's seed changes row 1 only.
        (int[] c0, int[] c1) = Draw(logits, 11, 23);
        Assert.Equal(a0, c0);
        Assert.NotEqual(a1, c1);
    }

    static (int[], int[]) Draw(Tensor logits, ulong s0, ulong s1)
    {
        using var g0 = new Generator(s0);
        using var g1 = new Generator(s1);
        var (idx, conf) = TokenSampler.Sample(logits, 0, 0, [g0, g1]);
        using (idx) using (conf)
            return (idx[0].data<long>().Select(v => (int)v).ToArray(), idx[1].data<long>().Select(v => (int)v).ToArray());
    }

    [Fact]
    public void Sample_OnlyPicksTokensThatSurviveTheFilters_AndReportsTheirProbability()
    {
        // Logits 0..9: top-k 3 leaves 7, 8, 9.
        using var logits = arange(10, dtype: ScalarType.Float32).view(1, 1, 10).expand(1, 200, 10).contiguous();
        using var g = new Generator(1);
        var (idx, conf) = TokenSampler.Sample(logits, 3, 0, [g]);
        var ids = idx.data<long>().ToArray();
        Assert.All(ids, v => Assert.InRange(v, 7, 9));
        Assert.Equal(3, ids.Distinct().Count());
        double z = Math.Exp(7) + Math.Exp(8) + Math.Exp(9);
        var c = conf.data<float>().ToArray();
        for (int i = 0; i < ids.Length; i++) Assert.Equal(Math.Exp(ids[i]) / z, c[i], 5);
        // The caller's logits are untouched (the reference filters in place; we filter a copy).
        Assert.Equal(9f, logits[0, 0, 9].item<float>());
    }

    [Fact]
    public void GumbelSoftWeights_AreADistributionAndRepeatable()
    {
        using var logits = randn(1, 4, 16, generator: new Generator(3));
        using var g1 = new Generator(5);
        using var g2 = new Generator(5);
        using var w1 = TokenSampler.GumbelSoftWeights(logits, 0.5, [g1]);
        using var w2 = TokenSampler.GumbelSoftWeights(logits, 0.5, [g2]);
        using var sums = w1.sum(-1);
        Assert.True(sums.allclose(ones(1, 4), 1e-5, 1e-5));
        Assert.True(w1.eq(w2).all().item<bool>());
        Assert.Equal(0.27, TokenSampler.GumbelTemperature(0), 12);
        Assert.Equal(0.27 * 0.05, TokenSampler.GumbelTemperature(1), 12);
    }
}
