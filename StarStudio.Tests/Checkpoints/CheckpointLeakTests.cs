using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class CheckpointLeakTests
{
    [Fact]
    public void ReadAndLoad_LeaveNoLiveTensorsBehind()
    {
        using var dir = new TempDir();
        string pth = dir.File("star.pth");
        TorchSave.Write(pth, StarCheckpoint.Root());
        string st = dir.File("star.safetensors");
        using (var w = ones(3, 2))
            SafetensorsWriter.Write(st, new Dictionary<string, Tensor> { ["weight"] = w });
        using var target = nn.Linear(2, 3, hasBias: false);

        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++)
        {
            using (var sd = CheckpointFile.ReadStateDict(pth)) Assert.Equal(3, sd.Count);
            using (var sd = CheckpointFile.ReadStateDict(st)) StateDictLoader.Load(target, sd);
            CheckpointInspector.Inspect(pth);
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
