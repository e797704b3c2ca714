// The element types checkpoints carry, with their names in safetensors headers and in PyTorch pickles
// (torch.<Name>Storage classes), and their sizes in bytes.
using static TorchSharp.torch;

namespace StarStudio.Model.Checkpoints;

/// <summary>One element type StarStudio can read into a TorchSharp tensor.</summary>
public sealed record CheckpointDType(ScalarType Type, string Name, string SafetensorsCode, string TorchStorage, int Size)
{
    public static readonly CheckpointDType Float32 = new(ScalarType.Float32, "float32", "F32", "FloatStorage", 4);
    public static readonly CheckpointDType Float16 = new(ScalarType.Float16, "float16", "F16", "HalfStorage", 2);
    public static readonly CheckpointDType BFloat16 = new(ScalarType.BFloat16, "bfloat16", "BF16", "BFloat16Storage", 2);
    public static readonly CheckpointDType Float64 = new(ScalarType.Float64, "float64", "F64", "DoubleStorage", 8);
    public static readonly CheckpointDType Int64 = new(ScalarType.Int64, "int64", "I64", "LongStorage", 8);
    public static readonly CheckpointDType Int32 = new(ScalarType.Int32, "int32", "I32", "IntStorage", 4);
    public static readonly CheckpointDType Int16 = new(ScalarType.Int16, "int16", "I16", "ShortStorage", 2);
    public static readonly CheckpointDType Int8 = new(ScalarType.Int8, "int8", "I8", "CharStorage", 1);
    public static readonly CheckpointDType UInt8 = new(ScalarType.Byte, "uint8", "U8", "ByteStorage", 1);
    public static readonly CheckpointDType Bool = new(ScalarType.Bool, "bool", "BOOL", "BoolStorage", 1);

    public static IReadOnlyList<CheckpointDType> All { get; } =
        [Float32, Float16, BFloat16, Float64, Int64, Int32, Int16, Int8, UInt8, Bool];

    /// <summary>safetensors codes that are valid but that StarStudio does not read, with their sizes (to validate offsets).</summary>
    internal static readonly Dictionary<string, int> UnsupportedSafetensorsSizes = new(StringComparer.Ordinal)
    {
        ["F8_E4M3"] = 1, ["F8_E5M2"] = 1, ["U16"] = 2, ["U32"] = 4, ["U64"] = 8, ["C64"] = 8,
    };

    public static CheckpointDType? FromSafetensors(string code) => All.FirstOrDefault(d => d.SafetensorsCode == code);

    /// <summary>torch.UntypedStorage holds raw bytes; torch reads it as uint8, and so do we.</summary>
    public static CheckpointDType? FromTorchStorage(string className) =>
        className == "UntypedStorage" ? UInt8 : All.FirstOrDefault(d => d.TorchStorage == className);

    public static CheckpointDType? FromScalarType(ScalarType type) => All.FirstOrDefault(d => d.Type == type);

    public bool IsFloatingPoint => Type is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;

    public override string ToString() => Name;
}
