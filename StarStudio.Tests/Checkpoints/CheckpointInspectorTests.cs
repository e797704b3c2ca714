using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class CheckpointInspectorTests
{
    [Fact]
    public void Inspect_ListsEveryTensorPlaceholderAndTheStateDictOfATrainerCheckpoint()
    {
        using var dir = new TempDir();
        string path = dir.File("ar-ckpt-last.pth");
        TorchSave.Write(path, StarCheckpoint.Root());

        var r = CheckpointInspector.Inspect(path);

        Assert.Equal(CheckpointFormat.PyTorchZip, r.Format);
        Assert.Equal(
            [
                ("trainer.var_wo_ddp.pos_start", "[1, 1, 4]", "float32", 16L),
                ("trainer.var_wo_ddp.lvl_embed.weight", "[2, 4]", "float32", 32L),
                ("trainer.var_wo_ddp.head_logits.bias", "[3]", "float16", 6L),
                ("trainer.var_opt.state.0.step", "[]", "float32", 4L),
                ("trainer.var_opt.state.0.exp_avg", "[1, 1, 4]", "float32", 16L),
            ],
            r.Tensors.Select(t => (t.Key, "[" + string.Join(", ", t.Shape) + "]", t.DType, t.ByteSize)));
        Assert.Equal(4 + 8 + 3 + 1 + 4, r.ParameterCount);
        Assert.Equal(16 + 32 + 6 + 4 + 16, r.TensorBytes);
        Assert.Equal([new InspectedPlaceholder("args", "utils.arg_util.Args")], r.Placeholders);
        Assert.Contains("torch._utils._rebuild_tensor_v2", r.Globals);
        Assert.Contains("utils.arg_util.Args", r.Globals);
        Assert.Equal(["trainer", "var_wo_ddp"], r.StateDictKeyPath);
    }

    [Fact]
    public void Inspect_ReadsNoTensorData()
    {
        using var dir = new TempDir();
        string path = dir.File("nodata.pth");
        var (pickle, _) = TorchSave.Pickle(StarCheckpoint.Root());
        // Storage records absent: inspection still works from the pickle alone; loading does not.
        TorchZip.Write(path, "archive", pickle, []);

        Assert.Equal(5, CheckpointInspector.Inspect(path).Tensors.Count);
        Assert.Throws<CheckpointFormatException>(() => CheckpointFile.ReadStateDict(path).Dispose());
    }

    [Fact]
    public void Inspect_ListsSafetensorsWithMetadata()
    {
        using var dir = new TempDir();
        string path = dir.File("vqvae.safetensors");
        using var a = zeros(4, 3, dtype: ScalarType.Float16);
        using var b = zeros(5, dtype: ScalarType.Int64);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["quant_conv.weight"] = a, ["ema"] = b }, new Dictionary<string, string> { ["kind"] = "vqvae" });

        var r = CheckpointInspector.Inspect(path);

        Assert.Equal(CheckpointFormat.Safetensors, r.Format);
        Assert.Equal([("ema", "int64", 40L), ("quant_conv.weight", "float16", 24L)], r.Tensors.Select(t => (t.Key, t.DType, t.ByteSize)));
        Assert.Equal(17, r.ParameterCount);
        Assert.Equal("vqvae", r.Metadata["kind"]);
        Assert.Empty(r.Placeholders);
        Assert.Equal([], r.StateDictKeyPath!);
    }
}
