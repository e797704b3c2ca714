using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Checkpoints;

public class SafetensorsTests
{
    /// <summary>A hand-made safetensors file: header JSON as given, then the data bytes.</summary>
    static void WriteRaw(string path, string headerJson, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        f.Write(len);
        f.Write(header);
        f.Write(data);
    }

    static byte[] Floats(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), values[i]);
        return b;
    }

    [Fact]
    public void RoundTrip_KeepsValuesShapesTypesAndMetadata()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        using var f32 = tensor(new float[] { 1.5f, -2f, 3.25f, 0f, 7f, -0.5f }).reshape(2, 3);
        using var f16 = tensor(new float[] { 0.5f, -4f }).to(ScalarType.Float16);
        using var bf16 = tensor(new float[] { 1f, -1.5f, 256f }).to(ScalarType.BFloat16);
        using var i64 = tensor(new long[] { long.MaxValue, -3, 0 });
        using var b = tensor(new[] { true, false, true });
        using var u8 = tensor(new byte[] { 0, 200, 255 });
        using var scalar = tensor(2.5);
        using var empty = zeros(0, 3);
        var tensors = new Dictionary<string, Tensor> { ["z.f32"] = f32, ["a.f16"] = f16, ["m.bf16"] = bf16, ["i64"] = i64, ["bool"] = b, ["u8"] = u8, ["scalar"] = scalar, ["empty"] = empty };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["model"] = "tiny" };

        SafetensorsWriter.Write(path, tensors, metadata);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(metadata, file.Metadata);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), file.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, expected) in tensors)
        {
            using var actual = file.Read(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.eq(actual).all().item<bool>(), name);
        }
        Assert.Equal(new[] { 1.5f, -2f, 3.25f, 0f, 7f, -0.5f }, file.Read("z.f32").data<float>().ToArray());
        Assert.Equal(new long[] { long.MaxValue, -3, 0 }, file.Read("i64").data<long>().ToArray());
    }

    [Fact]
    public void Write_SortsKeysAlignsHeaderAndPacksDataInKeyOrder()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        using var b = tensor(new float[] { 1, 2 });
        using var a = tensor(new float[] { 3 });
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["b"] = b, ["a"] = a });

        var bytes = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + headerLength) % 8);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        Assert.Equal(["a", "b"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal([0L, 4L], doc.RootElement.GetProperty("a").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([4L, 12L], doc.RootElement.GetProperty("b").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(8 + headerLength + 12, bytes.Length);
        // "a" (3f) comes first in the data section.
        Assert.Equal(3f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + headerLength))));
    }

    [Fact]
    public void Read_ReadsOnlyTheRequestedTensor()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        // "b" holds an invalid bool byte: reading "a" must not touch it, reading "b" must refuse it.
        WriteRaw(path, """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BOOL","shape":[1],"data_offsets":[8,9]}}""",
                 [.. Floats(4f, 5f), 7]);
        using var file = SafetensorsFile.Open(path);
        using var a = file.Read("a");
        Assert.Equal(new[] { 4f, 5f }, a.data<float>().ToArray());
        var e = Assert.Throws<CheckpointFormatException>(() => file.Read("b"));
        Assert.Contains("bool", e.Message);
    }

    [Fact]
    public void Open_RejectsHeaderPointingPastTheEnd()
    {
        using var dir = new TempDir();
        string path = dir.File("lies.safetensors");
        WriteRaw(path, """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", Floats(1, 2));
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("lies.safetensors", e.Message);
        Assert.Contains("past the end", e.Message);
    }

    [Fact]
    public void Open_RejectsHeaderLengthLargerThanTheFile()
    {
        using var dir = new TempDir();
        string path = dir.File("big.safetensors");
        File.WriteAllBytes(path, [0x00, 0x10, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("big.safetensors", e.Message);
        Assert.Contains("4096 bytes", e.Message);
    }

    [Fact]
    public void Open_RejectsHeaderLengthAboveTheLimitWithoutAllocatingIt()
    {
        using var dir = new TempDir();
        string path = dir.File("huge.safetensors");
        File.WriteAllBytes(path, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, (byte)'{', (byte)'}']);
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("limit", e.Message);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", "overlap")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", "needs 12 bytes")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "ordered")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "non-negative")]
    [InlineData("""{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}""", "unknown dtype")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2]}}""", "data_offsets")]
    [InlineData("""{"__metadata__":{"x":1}}""", "not a string")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""{"a":""", "not valid JSON")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", "twice")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}""", "too large")]
    public void Open_RejectsInvalidHeaders(string header, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        WriteRaw(path, header, Floats(1, 2, 3, 4));
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Open_ListsButRefusesToReadValidDtypesWeDoNotLoad()
    {
        using var dir = new TempDir();
        string path = dir.File("f8.safetensors");
        WriteRaw(path, """{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", [1, 2, 3, 4]);
        using var file = SafetensorsFile.Open(path);
        Assert.True(file.TryGetInfo("a", out var info));
        Assert.Null(info.DType);
        var e = Assert.Throws<CheckpointFormatException>(() => file.Read("a"));
        Assert.Contains("F8_E4M3", e.Message);
    }

    [Fact]
    public void Open_RejectsEveryTruncationOfAValidFile()
    {
        using var dir = new TempDir();
        string good = dir.File("good.safetensors");
        using var w = arange(10, dtype: ScalarType.Float32);
        SafetensorsWriter.Write(good, new Dictionary<string, Tensor> { ["w"] = w }, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(good);
        string cut = dir.File("cut.safetensors");
        foreach (int length in new[] { 0, 3, 8, 9, 20, bytes.Length - 41, bytes.Length - 1 })
        {
            File.WriteAllBytes(cut, bytes[..length]);
            var e = Assert.Throws<CheckpointFormatException>(() =>
            {
                using var f = SafetensorsFile.Open(cut);
                f.Read("w").Dispose();
            });
            Assert.Contains("cut.safetensors", e.Message);
        }
    }

    [Fact]
    public void Open_RejectsRandomBytes()
    {
        using var dir = new TempDir();
        string path = dir.File("noise.safetensors");
        var random = new Random(1234);
        var bytes = new byte[4096];
        random.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("noise.safetensors", e.Message);
    }

    [Fact]
    public void Open_ReportsMissingFileAndDirectory()
    {
        using var dir = new TempDir();
        var missing = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(dir.File("nope.safetensors")));
        Assert.Contains("nope.safetensors", missing.Message);
        Assert.Contains("not found", missing.Message);
        var folder = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(dir.Path));
        Assert.Contains("directory", folder.Message);
    }
}
