using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Checkpoints;

/// <summary>Pickles that try to run code on load: each must be refused before anything could happen.</summary>
public class HostilePickleTests
{
    static void AssertRefused(TempDir dir, string path, string global)
    {
        var e = Assert.Throws<UnsafeCheckpointException>(() => PthFile.Load(path));
        Assert.Equal(global, e.Global);
        Assert.Contains(Path.GetFileName(path), e.Message);
        Assert.Contains(global, e.Message);
        // The same file through every public entry point.
        Assert.Throws<UnsafeCheckpointException>(() => CheckpointFile.ReadStateDict(path));
        Assert.Throws<UnsafeCheckpointException>(() => CheckpointInspector.Inspect(path));
        Assert.False(File.Exists(Path.Combine(dir.Path, "marker")), "the payload's side effect happened");
    }

    static string Touch(TempDir dir) => "touch " + Path.Combine(dir.Path, "marker");

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("nt", "system")]
    [InlineData("subprocess", "Popen")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("builtins", "__import__")]
    [InlineData("builtins", "getattr")]
    [InlineData("__builtin__", "eval")]
    [InlineData("runpy", "_run_code")]
    [InlineData("importlib", "import_module")]
    [InlineData("shutil", "rmtree")]
    [InlineData("socket", "create_connection")]
    [InlineData("pickle", "loads")]
    [InlineData("sys", "modules")]
    public void Load_RejectsPickleThatCallsDangerousGlobalViaReduce(string module, string name)
    {
        using var dir = new TempDir();
        string path = dir.File("evil.pth");
        TorchSave.Write(path, new FxCall(module, name, [Touch(dir)]));
        AssertRefused(dir, path, $"{module}.{name}");
    }

    [Fact]
    public void Load_RejectsPickleThatCallsOsViaStackGlobal()
    {
        using var dir = new TempDir();
        string path = dir.File("evil4.pth");
        TorchSave.Write(path, new FxCall("os", "system", [Touch(dir)], StackGlobal: true));
        AssertRefused(dir, path, "os.system");
    }

    [Fact]
    public void Load_RejectsPayloadNestedDeepInsideAStateDict()
    {
        using var dir = new TempDir();
        string path = dir.File("nested.pth");
        // A valid checkpoint whose optimizer state hides the call, after the tensors it wants loaded.
        var root = StarCheckpoint.Root();
        var trainer = (FxDict)root.Single(p => (string)p.Key == "trainer").Value!;
        trainer.Add("extra", new FxDict { { "hook", new FxCall("posix", "system", [Touch(dir)], StackGlobal: true) } });
        TorchSave.Write(path, root);
        AssertRefused(dir, path, "posix.system");
    }

    [Fact]
    public void Load_RejectsPayloadInAStateDictValue()
    {
        using var dir = new TempDir();
        string path = dir.File("value.pth");
        var sd = StarCheckpoint.VarStateDict();
        sd.Add("evil", new FxCall("builtins", "eval", ["__import__('os').system('x')"]));
        TorchSave.Write(path, sd);
        AssertRefused(dir, path, "builtins.eval");
    }

    [Fact]
    public void Load_RejectsProtocol0InstOpcodeNamingOs()
    {
        using var dir = new TempDir();
        string path = dir.File("inst.pth");
        var w = new PickleWriter().Proto(2).Mark().String(Touch(dir));
        w.Raw("ios\nsystem\n"u8).Stop();
        TorchZip.Write(path, "archive", w.ToArray(), []);
        AssertRefused(dir, path, "os.system");
    }

    [Theory]
    [InlineData("torch.hub", "load")]
    [InlineData("torch", "hub.load")]
    [InlineData("torch", "load")]
    [InlineData("collections", "OrderedDict.__init__.__globals__")]
    [InlineData("numpy", "load")]
    public void Load_RejectsGlobalsThatReachCodeIndirectly(string module, string name)
    {
        using var dir = new TempDir();
        string path = dir.File("indirect.pth");
        TorchSave.Write(path, new FxCall(module, name, ["x"], StackGlobal: true));
        AssertRefused(dir, path, $"{module}.{name}");
    }

    [Fact]
    public void Load_KeepsUnknownHarmlessGlobalsAsInertPlaceholders()
    {
        using var dir = new TempDir();
        string path = dir.File("numpy.pth");
        var sd = StarCheckpoint.VarStateDict();
        TorchSave.Write(path, new FxDict
        {
            { "model", sd },
            { "rng", new FxCall("numpy.core.multiarray", "_reconstruct", [new FxTuple(0), "b"]) },
            { "args", new FxObject("__main__", "Args", new FxDict { { "lr", 0.1 } }) },
        });

        using var file = PthFile.Load(path);
        var root = (PickleDict)file.Root!;
        var rng = Assert.IsType<PickleObject>(root["rng"]);
        Assert.Equal("numpy.core.multiarray._reconstruct", rng.Type.FullName);
        Assert.Equal("REDUCE", rng.ConstructedBy);
        Assert.Equal("b", rng.Args[1]);
        var args = Assert.IsType<PickleObject>(root["args"]);
        Assert.Equal("NEWOBJ", args.ConstructedBy);
        Assert.Equal(0.1, Assert.IsType<PickleDict>(args.State)["lr"]);
        Assert.Contains(new PickleGlobal("__main__", "Args"), file.Globals);
    }
}
