using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

public class KvCacheTests
{
    [Fact]
    public void ForwardScaleLoop_LeaksNoTensorsAndCacheSurvivesScopes()
    {
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star(samplerHead: true)), seed: 40);
        var cond = TinyModels.Text(seed: 41);
        var stats = DisposeScopeManager.Statistics;
        using (var outer = NewDisposeScope())
        {
            long before = stats.ThreadTotalLiveCount;
            var cache = model.NewCache();
            for (int si = 0; si < model.PatchNums.Count; si++)
            {
                int pn = model.PatchNums[si];
                using (var scope = NewDisposeScope())
                {
                    var x = si == 0 ? model.StartTokens(cond) : model.ScaleInput(randn(2, pn * pn, TinyModels.Cvae), si);
                    var h = model.ForwardScale(x, si, cond, cache);
                    var logits = model.Logits(h, si, cond);
                    var sampler = model.SamplerLogits(h, zeros(2, pn * pn, TinyModels.Cvae), si, cond);
                    Assert.Equal([2L, pn * pn, TinyModels.Vocab], sampler.shape);
                }
                // Self K,V and cross K,V of both blocks outlive the per-scale scope; nothing else does.
                Assert.Equal(8, cache.TensorCount);
                Assert.Equal(before + cache.TensorCount, stats.ThreadTotalLiveCount);
            }
            Assert.Equal(14, cache.Length);
            Assert.Equal(3, cache.ScalesCached);
            cache.Dispose();
            Assert.Equal(0, cache.TensorCount);
            Assert.Equal(before, stats.ThreadTotalLiveCount);
        }
        TinyModels.DisposeAll(cond);
    }

    [Fact]
    public void VarForwardScaleLoop_LeaksNoTensors()
    {
        using var model = TinyModels.Randomize(new VarTransformer(TinyModels.Var(sharedAln: true)), seed: 42);
        using var labels = tensor(new long[] { 1, 10 });
        var cond = new ClassConditioning(labels);
        var stats = DisposeScopeManager.Statistics;
        using (var outer = NewDisposeScope())
        {
            long before = stats.ThreadTotalLiveCount;
            using (var cache = model.NewCache())
            {
                for (int si = 0; si < model.PatchNums.Count; si++)
                {
                    int pn = model.PatchNums[si];
                    using var scope = NewDisposeScope();
                    var x = si == 0 ? model.StartTokens(cond) : model.ScaleInput(randn(2, pn * pn, TinyModels.Cvae), si);
                    model.Logits(model.ForwardScale(x, si, cond, cache), si, cond);
                }
                Assert.Equal(4, cache.TensorCount); // self K,V of 2 blocks; VAR has no cross-attention
                Assert.Equal(before + 4, stats.ThreadTotalLiveCount);
            }
            Assert.Equal(before, stats.ThreadTotalLiveCount);
        }
    }

    [Fact]
    public void Models_BuiltInsideADisposeScopeSurviveIt()
    {
        StarTransformer star;
        VarTransformer var;
        using (var scope = NewDisposeScope())
        {
            star = new StarTransformer(TinyModels.Star(samplerHead: true));
            var = new VarTransformer(TinyModels.Var());
        }
        using (star)
        using (var)
        {
            // A tensor disposed with the scope would silently drop out of the state dict: compare with models built outside.
            using var starRef = new StarTransformer(TinyModels.Star(samplerHead: true));
            using var varRef = new VarTransformer(TinyModels.Var());
            Assert.Equal(starRef.state_dict().Keys.Order(), star.state_dict().Keys.Order());
            Assert.Equal(varRef.state_dict().Keys.Order(), var.state_dict().Keys.Order());
            Assert.All(star.state_dict().Values.Concat(var.state_dict().Values), t => Assert.False(t.IsInvalid));
            Assert.False(star.Lvl_1L.IsInvalid || star.RopeTables.Cos!.IsInvalid);
            var cond = TinyModels.Text(seed: 45);
            using var x = TinyModels.TeacherInput(star.TotalTokens, seed: 46);
            using var noGrad = no_grad();
            using var logits = star.ForwardTeacherForced(x, cond);
            using var labels = tensor(new long[] { 0, 10 });
            using var vlogits = var.ForwardTeacherForced(x, new ClassConditioning(labels));
            Assert.Equal(logits.shape, vlogits.shape);
            TinyModels.DisposeAll(cond);
        }
    }

    [Fact]
    public void Cache_HoldsKeysOfEveryScaleInOrder()
    {
        using var model = TinyModels.Randomize(new StarTransformer(TinyModels.Star()), seed: 43);
        var cond = TinyModels.Text(seed: 44);
        using var cache = model.NewCache();
        using var noGrad = no_grad();
        using var x0 = model.StartTokens(cond);
        using var h0 = model.ForwardScale(x0, 0, cond, cache);
        Assert.Equal(1, cache.Length);
        Assert.Equal(2L, cache.Rows);
        using var x1 = model.ScaleInput(zeros(2, 4, TinyModels.Cvae), 1);
        using var h1 = model.ForwardScale(x1, 1, cond, cache);
        Assert.Equal(5, cache.Length);
        Assert.Equal(2, cache.ScalesCached);
        cache.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.ForwardScale(x0, 0, cond, cache));
        TinyModels.DisposeAll(cond);
    }
}
