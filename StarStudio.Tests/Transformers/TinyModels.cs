using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Transformers;

/// <summary>Tiny random STAR / VAR models and inputs for numeric tests (CPU fp32, milliseconds per forward).</summary>
static class TinyModels
{
    public const int TextTokens = 5, TextDim = 16, Cvae = 8, Vocab = 32;

    public static StarConfig Star(bool samplerHead = false, bool quirk = false, bool sharedAln = false) => new()
    {
        Depth = 2,
        Width = 64,
        Heads = 4,
        PatchNums = [1, 2, 3],
        Cvae = Cvae,
        VocabSize = Vocab,
        TextDim = TextDim,
        StableSamplerHead = samplerHead,
        SampleFromIdx = 1,
        SamplerDepth = 2,
        CrossAttentionBatchQuirk = quirk,
        SharedAln = sharedAln,
    };

    public static VarConfig Var(bool sharedAln = false) => new()
    {
        Depth = 2,
        Width = 64,
        Heads = 4,
        PatchNums = [1, 2, 3],
        Cvae = Cvae,
        VocabSize = Vocab,
        NumClasses = 10,
        SharedAln = sharedAln,
    };

    /// <summary>Every parameter redrawn from N(0, std) with a fixed seed, so biases and embeddings all matter.</summary>
    public static T Randomize<T>(T model, long seed, double std = 0.3) where T : nn.Module
    {
        using var gen = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var p in model.parameters())
            p.copy_(randn(p.shape, generator: gen) * std);
        model.eval();
        return model;
    }

    /// <summary>
    /// Two rows of different text; row 1 is padded after 3 tokens. Row 0's hidden states can be shifted to test the quirk.
    /// </summary>
    public static TextConditioning Text(long seed, double row0Shift = 0)
    {
        using var gen = new Generator((ulong)seed);
        var hidden = randn([2, TextTokens, TextDim], generator: gen);
        if (row0Shift != 0) hidden[0].add_(row0Shift);
        var mask = tensor(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, TextTokens]);
        var pooled = randn([2, TextDim], generator: gen);
        return new TextConditioning(hidden, mask, pooled);
    }

    public static Tensor TeacherInput(int totalTokens, long seed, long rows = 2)
    {
        using var gen = new Generator((ulong)seed);
        return randn([rows, totalTokens - 1, Cvae], generator: gen);
    }

    public static void DisposeAll(TextConditioning c)
    {
        c.HiddenStates.Dispose();
        c.AttentionMask.Dispose();
        c.Pooled.Dispose();
    }

    /// <summary>
    /// Runs the model scale by scale through a KvCache, each scale inside its own dispose scope as the pipeline does,
    /// feeding scale si the same teacher-forcing tokens x[:, b-1:e-1] the full forward sees. Returns hidden and logits
    /// concatenated over scales ([N,L,C], [N,L,V]).
    /// </summary>
    public static (Tensor Hidden, Tensor Logits) RunCached(IScaleWiseTransformer model, Tensor x_BLCv, ScaleConditioning cond)
    {
        var hs = new List<Tensor>();
        var ls = new List<Tensor>();
        using var cache = model.NewCache();
        int begin = 0;
        for (int si = 0; si < model.PatchNums.Count; si++)
        {
            int l = model.PatchNums[si] * model.PatchNums[si];
            using (var scope = NewDisposeScope())
            {
                var x = si == 0 ? model.StartTokens(cond) : model.ScaleInput(x_BLCv.narrow(1, begin - 1, l), si);
                var h = model.ForwardScale(x, si, cond, cache);
                var logits = model.Logits(h, si, cond, x);
                hs.Add(h.MoveToOuterDisposeScope());
                ls.Add(logits.MoveToOuterDisposeScope());
            }
            begin += l;
        }
        var hidden = cat(hs, dim: 1);
        var all = cat(ls, dim: 1);
        foreach (var t in hs.Concat(ls)) t.Dispose();
        return (hidden, all);
    }

    /// <summary>A StarConfig as model.json writes it.</summary>
    public static string ManifestJson(StarConfig config) =>
        System.Text.Json.JsonSerializer.Serialize(config, StarStudio.Model.Checkpoints.ModelManifest.JsonOptions);

    /// <summary>A StarConfig as model.json reads it back ("{}": a manifest written before any option existed).</summary>
    public static StarConfig FromManifestJson(string json) =>
        System.Text.Json.JsonSerializer.Deserialize<StarConfig>(json, StarStudio.Model.Checkpoints.ModelManifest.JsonOptions)!;

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.item<float>();
    }
}
