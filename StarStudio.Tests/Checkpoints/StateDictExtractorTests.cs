using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class StateDictExtractorTests
{
    [Fact]
    public void ReadStateDict_AutoDetectsTrainerVarWoDdpDespiteThePlaceholderArgs()
    {
        using var dir = new TempDir();
        string path = dir.File("ar-ckpt-last.pth");
        TorchSave.Write(path, StarCheckpoint.Root(), "ar-ckpt-last");

        using var sd = CheckpointFile.ReadStateDict(path);
        Assert.Equal(CheckpointFormat.PyTorchZip, sd.Format);
        Assert.True(sd.AutoDetected);
        Assert.Equal(["trainer", "var_wo_ddp"], sd.KeyPath);
        Assert.Equal("trainer/var_wo_ddp", sd.Source);
        Assert.Equal(["pos_start", "lvl_embed.weight", "head_logits.bias"], sd.Keys);
        Assert.Equal([1L, 1L, 4L], sd["pos_start"].shape);
        Assert.Equal(new[] { 5f, 6f, 7f, 8f }, sd["lvl_embed.weight"][1].data<float>().ToArray());
        Assert.Equal(new[] { 0.25f, -1f, 2f }, sd["head_logits.bias"].to(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void ReadStateDict_FollowsAnExplicitKeyPath()
    {
        using var dir = new TempDir();
        string path = dir.File("star.pth");
        TorchSave.Write(path, StarCheckpoint.Root());

        using var sd = CheckpointFile.ReadStateDict(path, ["trainer", "var_opt", "state", "0"]);
        Assert.False(sd.AutoDetected);
        Assert.Equal(12f, sd["step"].item<float>());
        Assert.Equal(["step", "exp_avg"], sd.Keys);
    }

    [Fact]
    public void ReadStateDict_ArgsAsTensorsFailsNamingKeyPathAndGlobal()
    {
        using var dir = new TempDir();
        string path = dir.File("star.pth");
        TorchSave.Write(path, StarCheckpoint.Root());

        var e = Assert.Throws<CheckpointContentException>(() => CheckpointFile.ReadStateDict(path, ["args"]));
        Assert.Contains("star.pth", e.Message);
        Assert.Contains("'args'", e.Message);
        Assert.Contains("utils.arg_util.Args", e.Message);
    }

    [Fact]
    public void ReadStateDict_PlaceholderInsideTheStateDictFailsNamingItsKeyAndGlobal()
    {
        using var dir = new TempDir();
        string path = dir.File("star.pth");
        var sd = StarCheckpoint.VarStateDict();
        sd.Add("rng_state", new FxCall("numpy.core.multiarray", "_reconstruct", [0, new FxTuple(0), "b"]));
        TorchSave.Write(path, StarCheckpoint.Root(sd));

        var e = Assert.Throws<CheckpointContentException>(() => CheckpointFile.ReadStateDict(path, ["trainer", "var_wo_ddp"]));
        Assert.Contains("trainer/var_wo_ddp/rng_state", e.Message);
        Assert.Contains("numpy.core.multiarray._reconstruct", e.Message);
    }

    [Fact]
    public void ReadStateDict_MissingKeyListsWhatIsThere()
    {
        using var dir = new TempDir();
        string path = dir.File("star.pth");
        TorchSave.Write(path, StarCheckpoint.Root());

        var e = Assert.Throws<CheckpointContentException>(() => CheckpointFile.ReadStateDict(path, ["trainer", "vae_local"]));
        Assert.Contains("'vae_local'", e.Message);
        Assert.Contains("'var_wo_ddp'", e.Message);
        Assert.Contains("'var_opt'", e.Message);
    }

    [Fact]
    public void DetectKeyPath_FailsListingTopLevelKeysWhenNoStateDictIsFound()
    {
        using var dir = new TempDir();
        string path = dir.File("odd.pth");
        TorchSave.Write(path, new FxDict { { "weights", new FxDict { { "w", FxTensor.Contiguous(FxStorage.Float(1), 1) } } }, { "step", 5 } });

        var e = Assert.Throws<CheckpointContentException>(() => CheckpointFile.ReadStateDict(path));
        Assert.Contains("odd.pth", e.Message);
        Assert.Contains("'weights' (dict)", e.Message);
        Assert.Contains("'step' (int)", e.Message);
        using var explicitPath = CheckpointFile.ReadStateDict(path, ["weights"]);
        Assert.Equal(1f, explicitPath["w"].item<float>());
    }

    [Theory]
    [InlineData("model")]
    [InlineData("state_dict")]
    [InlineData("module")]
    public void DetectKeyPath_FindsCommonNests(string nest)
    {
        using var dir = new TempDir();
        string path = dir.File("nest.pth");
        var sd = new FxOrderedDict { { "w", FxTensor.Contiguous(FxStorage.Float(2), 1) } };
        TorchSave.Write(path, new FxDict { { "epoch", 1 }, { nest, sd } });

        using var loaded = CheckpointFile.ReadStateDict(path);
        Assert.Equal([nest], loaded.KeyPath);
        Assert.Equal(2f, loaded["w"].item<float>());
    }
}
