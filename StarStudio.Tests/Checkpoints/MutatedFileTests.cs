using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

/// <summary>Valid files with a few random bytes changed (fixed seeds): reading them may succeed or fail,
/// but the only failures allowed are CheckpointExceptions (no crash, no stray exception type).</summary>
public class MutatedFileTests
{
    const int Trials = 120;

    /// <summary>Mutates 1-3 bytes among the first mutableLength of original, writes the result with write, reads path.</summary>
    static void AssertOnlyCheckpointExceptions(byte[] original, int mutableLength, string path, Action<byte[]> write, int seed)
    {
        var random = new Random(seed);
        var stray = new List<string>();
        for (int i = 0; i < Trials; i++)
        {
            var bytes = (byte[])original.Clone();
            for (int k = random.Next(1, 4); k > 0; k--) bytes[random.Next(mutableLength)] = (byte)random.Next(256);
            write(bytes);
            try
            {
                using var sd = CheckpointFile.ReadStateDict(path);
                CheckpointInspector.Inspect(path);
            }
            catch (CheckpointException) { }
            catch (Exception e) { stray.Add($"trial {i}: {e.GetType().Name}: {e.Message}"); }
        }
        Assert.True(stray.Count == 0, string.Join("\n", stray));
    }

    [Fact]
    public void Read_MutatedPickleFailsOnlyWithCheckpointExceptions()
    {
        using var dir = new TempDir();
        var (pickle, storages) = TorchSave.Pickle(StarCheckpoint.Root());
        string path = dir.File("pickle.pth");
        AssertOnlyCheckpointExceptions(pickle, pickle.Length, path,
            p => TorchZip.Write(path, "archive", p, storages.Select(s => (s.Key, s.Storage.Data))), seed: 11);
    }

    [Fact]
    public void Read_MutatedZipFailsOnlyWithCheckpointExceptions()
    {
        using var dir = new TempDir();
        string good = dir.File("good.pth");
        TorchSave.Write(good, StarCheckpoint.Root());
        var bytes = File.ReadAllBytes(good);
        string path = dir.File("zip.pth");
        AssertOnlyCheckpointExceptions(bytes, bytes.Length, path, b => File.WriteAllBytes(path, b), seed: 12);
    }

    [Fact]
    public void Read_MutatedSafetensorsHeaderFailsOnlyWithCheckpointExceptions()
    {
        using var dir = new TempDir();
        string good = dir.File("good.safetensors");
        using var w = arange(12, dtype: ScalarType.Float32);
        using var l = arange(3, dtype: ScalarType.Int64);
        SafetensorsWriter.Write(good, new Dictionary<string, Tensor> { ["w"] = w, ["l"] = l }, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(good);
        string path = dir.File("st.safetensors");
        // The header is where lies can hide; the data bytes are any values.
        AssertOnlyCheckpointExceptions(bytes, bytes.Length - 12 * 4 - 3 * 8, path, b => File.WriteAllBytes(path, b), seed: 13);
    }
}
