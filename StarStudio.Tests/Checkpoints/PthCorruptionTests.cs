using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Checkpoints;

/// <summary>Broken or lying files: each must end in a CheckpointFormatException naming the file, never a crash or a huge allocation.</summary>
public class PthCorruptionTests
{
    /// <summary>Loads the file and reads every tensor, the way a real load would.</summary>
    static void LoadFully(string path)
    {
        using var sd = CheckpointFile.ReadStateDict(path);
    }

    static CheckpointFormatException AssertFormatError(string path, string? expected = null)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => LoadFully(path));
        Assert.Contains(Path.GetFileName(path), e.Message);
        if (expected is not null) Assert.Contains(expected, e.Message);
        return e;
    }

    static FxOrderedDict SmallStateDict()
    {
        var sd = new FxOrderedDict();
        sd.Add("w", FxTensor.Contiguous(FxStorage.Float(1, 2, 3, 4, 5, 6), 2, 3));
        sd.Add("b", FxTensor.Contiguous(FxStorage.Float(7, 8), 2));
        return sd;
    }

    [Fact]
    public void Load_RejectsTheFileCutAtSeveralOffsets()
    {
        using var dir = new TempDir();
        string good = dir.File("good.pth");
        TorchSave.Write(good, SmallStateDict());
        var bytes = File.ReadAllBytes(good);
        LoadFully(good);

        string cut = dir.File("cut.pth");
        foreach (int length in new[] { 0, 2, 4, 30, 100, bytes.Length / 2, bytes.Length - 30, bytes.Length - 1 })
        {
            File.WriteAllBytes(cut, bytes[..length]);
            AssertFormatError(cut);
        }
    }

    [Fact]
    public void Load_RejectsRandomBytes()
    {
        using var dir = new TempDir();
        var random = new Random(42);
        var bytes = new byte[2048];
        random.NextBytes(bytes);
        bytes[0] = 0x13; // not a zip, pickle or safetensors start
        string noise = dir.File("noise.pth");
        File.WriteAllBytes(noise, bytes);
        AssertFormatError(noise, "not a PyTorch checkpoint");

        // Random bytes behind a zip signature: the zip directory is missing.
        "PK\x03\x04"u8.CopyTo(bytes);
        string fakeZip = dir.File("fakezip.pth");
        File.WriteAllBytes(fakeZip, bytes);
        AssertFormatError(fakeZip, "zip");
    }

    [Fact]
    public void Load_RejectsRandomBytesInsideDataPkl()
    {
        using var dir = new TempDir();
        var random = new Random(7);
        for (int trial = 0; trial < 20; trial++)
        {
            var pickle = new byte[200];
            random.NextBytes(pickle);
            string path = dir.File($"garbage{trial}.pth");
            TorchZip.Write(path, "archive", pickle, []);
            // Either the bytes are rejected as a pickle, or they decode to something that is not a state dict.
            var e = Assert.ThrowsAny<CheckpointException>(() => LoadFully(path));
            Assert.Contains(Path.GetFileName(path), e.Message);
        }
    }

    [Fact]
    public void Load_RejectsATruncatedPickle()
    {
        using var dir = new TempDir();
        string path = dir.File("halfpickle.pth");
        var (pickle, storages) = TorchSave.Pickle(SmallStateDict());
        TorchZip.Write(path, "archive", pickle[..(pickle.Length / 2)], storages.Select(s => (s.Key, s.Storage.Data)));
        AssertFormatError(path, "truncated");
    }

    [Fact]
    public void Load_RejectsAMissingStorageRecord()
    {
        using var dir = new TempDir();
        string path = dir.File("nostorage.pth");
        var (pickle, storages) = TorchSave.Pickle(SmallStateDict());
        TorchZip.Write(path, "archive", pickle, storages.Where(s => s.Key != "1").Select(s => (s.Key, s.Storage.Data)));
        AssertFormatError(path, "archive/data/1");
    }

    [Fact]
    public void Load_RejectsAStorageDeclaringMoreThanItsRecordHolds()
    {
        using var dir = new TempDir();
        string path = dir.File("bomb.pth");
        // 2^40 floats (4 TiB) claimed by a 24-byte record: must be refused before any allocation.
        var storage = FxStorage.Float(1, 2, 3, 4, 5, 6);
        storage.Numel = 1L << 40;
        var sd = new FxOrderedDict();
        sd.Add("w", new FxTensor(storage, 0, [1L << 20, 1L << 20], [1L << 20, 1]));
        TorchSave.Write(path, sd);
        AssertFormatError(path, "holds only 24");
    }

    [Fact]
    public void Load_RejectsAZipRecordWhoseDeclaredSizeExceedsAnyCompressionRatio()
    {
        using var dir = new TempDir();
        string path = dir.File("ratio.pth");
        var storage = FxStorage.Float(1, 2, 3, 4, 5, 6);
        storage.Numel = 1L << 28; // 1 GiB of floats
        var sd = new FxOrderedDict();
        sd.Add("w", new FxTensor(storage, 0, [6], [1]));
        TorchSave.Write(path, sd);
        // Patch the central directory so data/0 (24 stored bytes) claims 1 GiB uncompressed.
        var bytes = File.ReadAllBytes(path);
        var name = Encoding.ASCII.GetBytes("archive/data/0");
        for (int i = 0; i + 46 < bytes.Length; i++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i)) != 0x02014b50) continue;
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(i + 28));
            if (!bytes.AsSpan(i + 46, nameLength).SequenceEqual(name)) continue;
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i + 24), 1u << 30);
        }
        File.WriteAllBytes(path, bytes);
        AssertFormatError(path, "zip bomb");
    }

    [Fact]
    public void Load_RejectsATensorReachingPastItsStorage()
    {
        using var dir = new TempDir();
        string path = dir.File("overrun.pth");
        var sd = new FxOrderedDict();
        sd.Add("w", new FxTensor(FxStorage.Float(1, 2, 3, 4, 5, 6), 2, [3, 2], [2, 1]));
        TorchSave.Write(path, sd);
        AssertFormatError(path, "reaches element 7");
    }

    [Fact]
    public void Load_RejectsUnsupportedStorageTypes()
    {
        using var dir = new TempDir();
        string path = dir.File("complex.pth");
        var sd = new FxOrderedDict();
        sd.Add("w", FxTensor.Contiguous(new FxStorage("ComplexFloatStorage", new byte[16], 2), 2));
        TorchSave.Write(path, sd);
        AssertFormatError(path, "torch.ComplexFloatStorage");
    }

    [Fact]
    public void Load_RejectsInvalidBoolBytes()
    {
        using var dir = new TempDir();
        string path = dir.File("bool.pth");
        var sd = new FxOrderedDict();
        sd.Add("mask", FxTensor.Contiguous(new FxStorage("BoolStorage", [1, 0, 5], 3), 3));
        TorchSave.Write(path, sd);
        AssertFormatError(path, "bool");
    }

    [Fact]
    public void Load_ExplainsLegacyTorchSaveFiles()
    {
        using var dir = new TempDir();
        string path = dir.File("old.pth");
        // Legacy torch.save: pickle of the magic number 0x1950a86a20f9469cfc6c, protocol version, sys info, ...
        byte[] legacy = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, (byte)'.', 0x80, 0x02, (byte)'M', 0xe9, 0x03, (byte)'.'];
        File.WriteAllBytes(path, legacy);
        var e = AssertFormatError(path, "legacy");
        Assert.Contains("torch.save(", e.Message);
    }

    [Fact]
    public void Load_ExplainsBarePicklesAndTorchScriptArchives()
    {
        using var dir = new TempDir();
        string bare = dir.File("bare.pkl");
        File.WriteAllBytes(bare, TorchSave.Pickle(new FxDict { { "a", 1 } }).Pickle);
        AssertFormatError(bare, "bare pickle");

        string script = dir.File("scripted.pt");
        using (var zip = new ZipArchive(File.Create(script), ZipArchiveMode.Create))
        {
            TorchZip.Add(zip, "scripted/constants.pkl", [0x80, 0x02, (byte)')', (byte)'.']);
            TorchZip.Add(zip, "scripted/code/__torch__.py", "def forward(self): pass"u8.ToArray());
        }
        AssertFormatError(script, "TorchScript");

        string other = dir.File("other.zip.pth");
        using (var zip = new ZipArchive(File.Create(other), ZipArchiveMode.Create)) TorchZip.Add(zip, "readme.txt", "hi"u8.ToArray());
        AssertFormatError(other, "data.pkl");
    }

    [Fact]
    public void Load_ReportsMissingFilesAndDirectories()
    {
        using var dir = new TempDir();
        AssertFormatError(dir.File("absent.pth"), "not found");
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.ReadStateDict(dir.Path));
        Assert.Contains("directory", e.Message);
    }
}
