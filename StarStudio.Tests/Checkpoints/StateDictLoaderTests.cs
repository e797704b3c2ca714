using StarStudio.Model.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class StateDictLoaderTests
{
    /// <summary>fc.weight [4, 3], fc.bias [4], head.weight [2, 4], head.bias [2], and a buffer "scale" [2].</summary>
    sealed class TinyNet : nn.Module<Tensor, Tensor>
    {
        [ComponentName(Name = "fc")] readonly Linear _fc;
        [ComponentName(Name = "head")] readonly Linear _head;
        [ComponentName(Name = "scale")] readonly Tensor _scale;

        public TinyNet() : base(nameof(TinyNet))
        {
            _fc = nn.Linear(3, 4);
            _head = nn.Linear(4, 2);
            _scale = ones(2);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => _head.call(_fc.call(x)) * _scale;
    }

    static Tensor Filled(float start, params long[] shape) => arange(start, start + shape.Aggregate(1L, (a, b) => a * b), dtype: ScalarType.Float32).reshape(shape);

    static Dictionary<string, Tensor> MatchingStateDict() => new()
    {
        ["fc.weight"] = Filled(0, 4, 3),
        ["fc.bias"] = Filled(100, 4),
        ["head.weight"] = Filled(200, 2, 4),
        ["head.bias"] = Filled(300, 2),
        ["scale"] = Filled(400, 2),
    };

    [Fact]
    public void Load_ExactMatchCopiesEveryTensorAndKeepsParametersTrainable()
    {
        using var net = new TinyNet();
        var sd = MatchingStateDict();

        var report = StateDictLoader.Load(net, sd);

        Assert.True(report.IsComplete);
        Assert.Equal(5, report.Loaded.Count);
        var live = net.state_dict();
        foreach (var (key, expected) in sd) Assert.True(live[key].eq(expected).all().item<bool>(), key);
        Assert.True(net.named_parameters().All(p => p.parameter.requires_grad));
        // Copies, not aliases: changing the source afterwards leaves the module alone.
        sd["fc.bias"].add_(1000);
        Assert.Equal(100f, live["fc.bias"][0].item<float>());
    }

    [Fact]
    public void Load_ReportsEveryMissingUnexpectedAndMisShapedKey()
    {
        using var net = new TinyNet();
        var before = net.state_dict()["fc.weight"].clone();
        var sd = MatchingStateDict();
        sd.Remove("fc.bias");
        sd["head.weight"] = Filled(0, 3, 4);
        sd["extra.weight"] = Filled(0, 1);

        var e = Assert.Throws<CheckpointMismatchException>(() => StateDictLoader.Load(net, sd, filePath: "tiny.pth"));

        var r = e.Report;
        Assert.Equal(["fc.bias"], r.Missing);
        Assert.Equal(["extra.weight"], r.Unexpected);
        var mismatch = Assert.Single(r.ShapeMismatches);
        Assert.Equal("head.weight", mismatch.Key);
        Assert.Equal([3L, 4L], mismatch.CheckpointShape);
        Assert.Equal([2L, 4L], mismatch.ModuleShape);
        Assert.Equal(["fc.weight", "head.bias", "scale"], r.Loaded);
        Assert.Contains("tiny.pth", e.Message);
        Assert.Contains("1 missing, 1 unexpected, 1 with the wrong shape", e.Message);
        Assert.Contains("fc.bias", e.Message);
        Assert.Contains("extra.weight", e.Message);
        Assert.Contains("head.weight: checkpoint [3, 4] vs module [2, 4]", e.Message);
        // A strict load that fails copies nothing.
        Assert.True(net.state_dict()["fc.weight"].eq(before).all().item<bool>());
    }

    [Fact]
    public void Load_NonStrictCopiesWhatMatchesAndReportsTheRest()
    {
        using var net = new TinyNet();
        var originalHeadWeight = net.state_dict()["head.weight"].clone();
        var sd = MatchingStateDict();
        sd.Remove("fc.bias");
        sd["head.weight"] = Filled(0, 3, 4);

        var report = StateDictLoader.Load(net, sd, new StateDictLoadOptions { Strict = false });

        Assert.False(report.IsComplete);
        Assert.Equal(["fc.bias"], report.Missing);
        var live = net.state_dict();
        Assert.Equal(5f, live["fc.weight"][1, 2].item<float>());
        Assert.Equal(401f, live["scale"][1].item<float>());
        Assert.True(live["head.weight"].eq(originalHeadWeight).all().item<bool>());
    }

    [Fact]
    public void Load_ConvertsHalfAndBFloat16ToTheModuleType()
    {
        using var net = new TinyNet();
        var sd = MatchingStateDict();
        sd["fc.weight"] = sd["fc.weight"].to(ScalarType.Float16);
        sd["head.bias"] = tensor(new[] { 1.5f, -2.25f }).to(ScalarType.BFloat16);

        var report = StateDictLoader.Load(net, sd);

        Assert.Equal(["fc.weight", "head.bias"], report.Converted);
        var live = net.state_dict();
        Assert.Equal(ScalarType.Float32, live["fc.weight"].dtype);
        Assert.Equal(11f, live["fc.weight"][3, 2].item<float>());
        Assert.Equal(new[] { 1.5f, -2.25f }, live["head.bias"].data<float>().ToArray());
    }

    [Fact]
    public void Load_ReportsTypeMismatchesThatAreNotFloatingConversions()
    {
        using var net = new TinyNet();
        var sd = MatchingStateDict();
        sd["scale"] = tensor(new long[] { 1, 2 });
        var e = Assert.Throws<CheckpointMismatchException>(() => StateDictLoader.Load(net, sd));
        var m = Assert.Single(e.Report.TypeMismatches);
        Assert.Equal(("scale", ScalarType.Int64, ScalarType.Float32), (m.Key, m.CheckpointType, m.ModuleType));

        var noConversion = MatchingStateDict();
        noConversion["fc.bias"] = noConversion["fc.bias"].to(ScalarType.Float16);
        var e2 = Assert.Throws<CheckpointMismatchException>(() =>
            StateDictLoader.Load(net, noConversion, new StateDictLoadOptions { ConvertFloatingTypes = false }));
        Assert.Equal("fc.bias", Assert.Single(e2.Report.TypeMismatches).Key);
    }

    [Fact]
    public void Load_IgnoresNamesPrefixesAndPredicatesOnBothSides()
    {
        using var net = new TinyNet();
        var sd = MatchingStateDict();
        sd.Remove("scale");
        sd["quantize.ema_vocab_hit_SV"] = zeros(3);
        sd["head_proj.weight"] = zeros(1);
        sd["lvl_1L"] = zeros(1);

        var report = StateDictLoader.Load(net, sd, new StateDictLoadOptions
        {
            IgnoreNames = ["ema_vocab_hit_SV", "scale"],
            IgnorePrefixes = ["head_proj."],
            Ignore = key => key == "lvl_1L",
        });

        Assert.True(report.IsComplete);
        Assert.Equal(["scale", "quantize.ema_vocab_hit_SV", "head_proj.weight", "lvl_1L"], report.Ignored);
        Assert.Equal(4, report.Loaded.Count);
    }

    [Fact]
    public void Describe_FoldsNumberedKeysAndTruncatesLongGroups()
    {
        var missing = Enumerable.Range(0, 16).SelectMany(i => new[] { $"blocks.{i}.attn.mat_qkv.weight", $"blocks.{i}.ffn.fc1.weight" })
            .Concat(Enumerable.Range(0, 30).Select(i => $"extra_{i:00}"))
            .ToList();
        var shapes = Enumerable.Range(0, 16).Select(i => new ShapeMismatch($"blocks.{i}.ffn.fc2.weight", [1024, 4096], [1024, 2048])).ToList();
        var report = new StateDictLoadReport("VAR", [], missing, ["head_logits2.weight"], shapes, [], [], []);

        string text = report.Describe("var_d16.pth", maxLinesPerGroup: 10);

        Assert.StartsWith("The state dict from var_d16.pth does not match VAR: 62 missing, 1 unexpected, 16 with the wrong shape (0 keys match).", text);
        Assert.Contains("\nMissing from the checkpoint (62):\n  blocks.*.attn.mat_qkv.weight (16 keys)\n  blocks.*.ffn.fc1.weight (16 keys)\n  extra_00\n", text);
        Assert.Contains("  ... and 22 more (the exception's Report lists every key)", text);
        Assert.Contains("\nUnexpected in the checkpoint (1):\n  head_logits2.weight", text);
        Assert.Contains("\nShape mismatch (16):\n  blocks.*.ffn.fc2.weight: checkpoint [1024, 4096] vs module [1024, 2048] (16 keys)", text);
    }
}
