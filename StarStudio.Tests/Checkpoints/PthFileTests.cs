using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class PthFileTests
{
    static FxOrderedDict FlatStateDict() => new()
    {
        Metadata = new FxOrderedDict { { "", new FxDict { { "version", 1 } } }, { "fc", new FxDict { { "version", 1 } } } },
    };

    [Fact]
    public void Load_ReadsFlatOrderedDictOfFp32Fp16Bf16Int64()
    {
        using var dir = new TempDir();
        string path = dir.File("flat.pth");
        var sd = FlatStateDict();
        sd.Add("fc.weight", FxTensor.Contiguous(FxStorage.Float(1.5f, -2f, 3.25f, 4f, -0.125f, 6f), 2, 3));
        sd.Add("fc.bias", FxTensor.Contiguous(FxStorage.Half(0.5f, -65504f), 2));
        sd.Add("emb", FxTensor.Contiguous(FxStorage.BFloat16(1f, -1.5f, 256f, 0.0078125f), 2, 2));
        sd.Add("steps", FxTensor.Contiguous(FxStorage.Long(1L << 40, -7, 0), 3));
        sd.Add("flags", FxTensor.Contiguous(FxStorage.Bool(true, false), 2));
        sd.Add("scale", FxTensor.Contiguous(FxStorage.Double(0.1)));
        TorchSave.Write(path, sd);

        using var file = PthFile.Load(path);
        var root = Assert.IsType<PickleDict>(file.Root);
        Assert.Equal("collections.OrderedDict", root.TypeName);
        Assert.Equal(["fc.weight", "fc.bias", "emb", "steps", "flags", "scale"], root.Keys.Cast<string>());
        var metadata = Assert.IsType<PickleDict>(root.Attributes["_metadata"]);
        Assert.Equal(["", "fc"], metadata.Keys.Cast<string>());
        Assert.Equal("3", file.FormatVersion);
        Assert.False(file.BigEndian);

        using var sdTensors = StateDictExtractor.Extract(file);
        Assert.Equal("(root)", sdTensors.Source);
        Assert.True(sdTensors.AutoDetected);

        var w = sdTensors["fc.weight"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.Equal([2L, 3L], w.shape);
        Assert.Equal(new[] { 1.5f, -2f, 3.25f, 4f, -0.125f, 6f }, w.contiguous().data<float>().ToArray());
        Assert.Equal(-0.125f, w[1, 1].item<float>());

        var b = sdTensors["fc.bias"];
        Assert.Equal(ScalarType.Float16, b.dtype);
        Assert.Equal(new[] { 0.5f, -65504f }, b.to(ScalarType.Float32).data<float>().ToArray());

        var e = sdTensors["emb"];
        Assert.Equal(ScalarType.BFloat16, e.dtype);
        Assert.Equal(new[] { 1f, -1.5f, 256f, 0.0078125f }, e.to(ScalarType.Float32).reshape(-1).data<float>().ToArray());

        Assert.Equal(new[] { 1L << 40, -7, 0 }, sdTensors["steps"].data<long>().ToArray());
        Assert.Equal(new[] { true, false }, sdTensors["flags"].data<bool>().ToArray());
        Assert.Equal(0, sdTensors["scale"].dim());
        Assert.Equal(0.1, sdTensors["scale"].item<double>());
    }

    [Fact]
    public void Load_RebuildsTransposedViewWithOffsetAndStride()
    {
        using var dir = new TempDir();
        string path = dir.File("view.pth");
        // storage 0..11; "t" is the transpose of the 3x3 block that starts at element 2: t[i, j] = 2 + 3j + i.
        var storage = FxStorage.Float(Enumerable.Range(0, 12).Select(i => (float)i).ToArray());
        var sd = FlatStateDict();
        sd.Add("t", new FxTensor(storage, 2, [3, 3], [1, 3]));
        TorchSave.Write(path, sd);

        using var tensors = CheckpointFile.ReadStateDict(path);
        var t = tensors["t"];
        Assert.Equal([3L, 3L], t.shape);
        Assert.False(t.is_contiguous());
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(2 + 3 * j + i, t[i, j].item<float>());
    }

    [Fact]
    public void Load_ReadsASharedStorageOnceForBothTensors()
    {
        using var dir = new TempDir();
        string path = dir.File("shared.pth");
        var storage = FxStorage.Float(1, 2, 3, 4, 5, 6);
        var sd = FlatStateDict();
        sd.Add("full", FxTensor.Contiguous(storage, 2, 3));
        sd.Add("tail", new FxTensor(storage, 3, [3], [1]));
        TorchSave.Write(path, sd);

        using var file = PthFile.Load(path);
        Assert.Single(file.Storages);
        using var tensors = StateDictExtractor.Extract(file);
        Assert.Equal(new[] { 4f, 5f, 6f }, tensors["tail"].data<float>().ToArray());
        // Both are views of one buffer, as after torch.load: writing through one shows through the other.
        tensors["full"][1, 0] = tensor(40f);
        Assert.Equal(40f, tensors["tail"][0].item<float>());
    }

    [Fact]
    public void Load_FindsDataPklUnderAnyArchiveFolderName()
    {
        using var dir = new TempDir();
        string path = dir.File("ar-ckpt-last.pth");
        var sd = FlatStateDict();
        sd.Add("w", FxTensor.Contiguous(FxStorage.Float(9), 1));
        TorchSave.Write(path, sd, archiveName: "ar-ckpt-last");

        using var file = PthFile.Load(path);
        Assert.Equal("ar-ckpt-last", file.ArchiveName);
        Assert.Equal(9f, ((PthTensor)((PickleDict)file.Root!).Items[0].Value!).ToTensor().item<float>());
    }

    [Fact]
    public void Load_SwapsBytesWhenTheArchiveIsBigEndian()
    {
        using var dir = new TempDir();
        string path = dir.File("be.pth");
        var le = FxStorage.Float(1.5f, -3f);
        var be = new FxStorage("FloatStorage", le.Data.Chunk(4).SelectMany(c => c.Reverse()).ToArray(), 2);
        var sd = FlatStateDict();
        sd.Add("w", FxTensor.Contiguous(be, 2));
        TorchSave.Write(path, sd, byteOrder: "big");

        using var tensors = CheckpointFile.ReadStateDict(path);
        Assert.Equal(new[] { 1.5f, -3f }, tensors["w"].data<float>().ToArray());
    }

    [Fact]
    public void Load_UnwrapsParameters()
    {
        using var dir = new TempDir();
        string path = dir.File("param.pth");
        var sd = FlatStateDict();
        sd.Add("p", new FxParameter(FxTensor.Contiguous(FxStorage.Float(1, 2), 2)));
        TorchSave.Write(path, sd);

        using var file = PthFile.Load(path);
        var p = Assert.IsType<PthTensor>(((PickleDict)file.Root!).Items[0].Value);
        Assert.True(p.IsParameter);
        Assert.True(p.RequiresGrad);
        using var t = p.ToTensor();
        Assert.Equal(new[] { 1f, 2f }, t.data<float>().ToArray());
    }

    [Fact]
    public void Load_UnwrapsParametersWithStateAndTensorSubclasses()
    {
        using var dir = new TempDir();
        string path = dir.File("wrapped.pth");
        var sd = FlatStateDict();
        sd.Add("with_state", new FxParameter(FxTensor.Contiguous(FxStorage.Float(3, 4), 2), new FxDict { { "_is_shared", true } }));
        sd.Add("param_subclass", new FxSubclassTensor(FxTensor.Contiguous(FxStorage.Float(5, 6, 7), 3), "torch.nn.parameter", "Parameter"));
        sd.Add("buffer_subclass", new FxSubclassTensor(FxTensor.Contiguous(FxStorage.Long(8), 1), "my.module", "TaggedTensor"));
        sd.Add("empty", FxTensor.Contiguous(FxStorage.Float(), 0, 3));
        TorchSave.Write(path, sd);

        using var file = PthFile.Load(path);
        var root = (PickleDict)file.Root!;
        Assert.True(Assert.IsType<PthTensor>(root["with_state"]).IsParameter);
        Assert.True(Assert.IsType<PthTensor>(root["param_subclass"]).IsParameter);
        Assert.False(Assert.IsType<PthTensor>(root["buffer_subclass"]).IsParameter);
        using var tensors = StateDictExtractor.Extract(file);
        Assert.Equal(new[] { 3f, 4f }, tensors["with_state"].data<float>().ToArray());
        Assert.Equal(new[] { 5f, 6f, 7f }, tensors["param_subclass"].data<float>().ToArray());
        Assert.Equal(8L, tensors["buffer_subclass"][0].item<long>());
        Assert.Equal([0L, 3L], tensors["empty"].shape);
    }

    [Fact]
    public void Load_KeepsPlainValuesOfTheTree()
    {
        using var dir = new TempDir();
        string path = dir.File("values.pth");
        var root = new FxDict
        {
            { "epoch", 3 }, { "iter", 70000 }, { "neg", -5 }, { "big", 1L << 40 }, { "lr", 1e-4 }, { "name", "star-1024" },
            { "none", null }, { "yes", true }, { "list", new List<object?> { 1, "two", 3.0 } }, { "tuple", new FxTuple(1, 2, 3, 4) },
            { "nested", new FxDict { { "a", new FxDict { { "b", "deep" } } } } },
        };
        TorchSave.Write(path, root);

        using var file = PthFile.Load(path);
        var d = Assert.IsType<PickleDict>(file.Root);
        Assert.Equal(3L, d["epoch"]);
        Assert.Equal(70000L, d["iter"]);
        Assert.Equal(-5L, d["neg"]);
        Assert.Equal(1L << 40, d["big"]);
        Assert.Equal(1e-4, d["lr"]);
        Assert.Equal("star-1024", d["name"]);
        Assert.Null(d["none"]);
        Assert.Equal(true, d["yes"]);
        Assert.Equal(new object?[] { 1L, "two", 3.0 }, Assert.IsType<List<object?>>(d["list"]));
        Assert.Equal(new object?[] { 1L, 2L, 3L, 4L }, Assert.IsType<object?[]>(d["tuple"]));
        Assert.True(StateDictExtractor.TryNavigate(file.Root, ["nested", "a", "b"], out var deep));
        Assert.Equal("deep", deep);
    }
}
