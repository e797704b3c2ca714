using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class CheckpointFileTests
{
    sealed class Head : nn.Module<Tensor, Tensor>
    {
        [ComponentName(Name = "lvl_embed")] readonly Embedding _lvlEmbed;
        [ComponentName(Name = "pos_start")] readonly Parameter _posStart;
        [ComponentName(Name = "head_logits")] readonly Linear _headLogits;

        public Head() : base(nameof(Head))
        {
            _lvlEmbed = nn.Embedding(2, 4);
            _posStart = new Parameter(zeros(1, 1, 4));
            _headLogits = nn.Linear(4, 3);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => _headLogits.call(x + _posStart);
    }

    [Fact]
    public void DetectFormat_GoesByContentNotExtension()
    {
        using var dir = new TempDir();
        string safetensorsNamedBin = dir.File("pytorch_model.bin");
        using var w = ones(2);
        SafetensorsWriter.Write(safetensorsNamedBin, new Dictionary<string, Tensor> { ["w"] = w });
        string pthNamedSafetensors = dir.File("weights.safetensors");
        var sd = new FxOrderedDict();
        sd.Add("w", FxTensor.Contiguous(FxStorage.Float(3, 4), 2));
        TorchSave.Write(pthNamedSafetensors, sd);

        Assert.Equal(CheckpointFormat.Safetensors, CheckpointFile.DetectFormat(safetensorsNamedBin));
        Assert.Equal(CheckpointFormat.PyTorchZip, CheckpointFile.DetectFormat(pthNamedSafetensors));
        using var a = CheckpointFile.ReadStateDict(safetensorsNamedBin);
        Assert.Equal(new[] { 1f, 1f }, a["w"].data<float>().ToArray());
        using var b = CheckpointFile.ReadStateDict(pthNamedSafetensors);
        Assert.Equal(new[] { 3f, 4f }, b["w"].data<float>().ToArray());
    }

    [Fact]
    public void ReadStateDict_KeyPathSelectsAPrefixInSafetensors()
    {
        using var dir = new TempDir();
        string path = dir.File("all.safetensors");
        using var x = ones(1);
        using var y = zeros(2);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["trainer.var_wo_ddp.x"] = x, ["trainer.vae_local.y"] = y });

        using var sd = CheckpointFile.ReadStateDict(path, ["trainer", "var_wo_ddp"]);
        Assert.Equal(["x"], sd.Keys);
        Assert.Throws<CheckpointContentException>(() => CheckpointFile.ReadStateDict(path, ["model"]));
    }

    [Fact]
    public void TrainerCheckpoint_LoadsStrictlyAndSurvivesConversionToSafetensors()
    {
        using var dir = new TempDir();
        string pth = dir.File("ar-ckpt-last.pth");
        var varSd = StarCheckpoint.VarStateDict();
        varSd.Add("head_logits.weight", FxTensor.Contiguous(FxStorage.Float(Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray()), 3, 4));
        TorchSave.Write(pth, StarCheckpoint.Root(varSd), "ar-ckpt-last");

        using var head = new Head();
        using (var sd = CheckpointFile.ReadStateDict(pth))
        {
            var report = StateDictLoader.Load(head, sd, filePath: sd.FilePath);
            Assert.True(report.IsComplete);
            Assert.Equal(["head_logits.bias"], report.Converted); // saved as fp16
        }
        var live = head.state_dict();
        Assert.Equal(new[] { 0.5f, -0.5f, 1f, 2f }, live["pos_start"].reshape(-1).data<float>().ToArray());
        Assert.Equal(new[] { 5f, 6f, 7f, 8f }, live["lvl_embed.weight"][1].data<float>().ToArray());
        Assert.Equal(5.5f, live["head_logits.weight"][2, 3].item<float>());
        Assert.Equal(new[] { 0.25f, -1f, 2f }, live["head_logits.bias"].data<float>().ToArray());

        // The converted copy (our format of record) loads into a fresh module with identical values.
        string st = dir.File("star.safetensors");
        SafetensorsWriter.Write(st, live, new Dictionary<string, string> { ["source"] = "ar-ckpt-last.pth" });
        using var fresh = new Head();
        using (var sd = CheckpointFile.ReadStateDict(st)) StateDictLoader.Load(fresh, sd);
        foreach (var (key, value) in fresh.state_dict()) Assert.True(value.eq(live[key]).all().item<bool>(), key);
    }
}
