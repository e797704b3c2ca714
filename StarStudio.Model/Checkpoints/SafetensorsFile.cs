// safetensors, StarStudio's format of record: an 8-byte little-endian header length, a JSON header
// {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}, then raw
// little-endian tensor bytes; offsets count from the end of the header.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace StarStudio.Model.Checkpoints;

/// <summary>One tensor's entry in a safetensors header. DType is null for valid codes StarStudio cannot read (F8, U16...).</summary>
public sealed record SafetensorsTensorInfo(string Name, string DTypeCode, CheckpointDType? DType, long[] Shape, long Begin, long End)
{
    public long ByteSize => End - Begin;
    public long Numel => TensorBytes.Numel(Shape) ?? 0;
}

/// <summary>
/// An open safetensors file. The header is read and validated on open; tensor bytes are read on demand,
/// one tensor at a time, straight into tensor memory.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>The reference implementation's limit; a longer header is an attack or corruption.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    readonly SafeFileHandle _handle;
    readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    SafetensorsFile(string path, SafeFileHandle handle, long dataStart, IReadOnlyDictionary<string, string> metadata,
                    List<SafetensorsTensorInfo> tensors)
    {
        Path = path;
        _handle = handle;
        DataStart = dataStart;
        Metadata = metadata;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    /// <summary>Absolute file offset of the first data byte (8 + header length).</summary>
    public long DataStart { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Every tensor, in data order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }
    public IEnumerable<string> Keys => Tensors.Select(t => t.Name);

    public bool TryGetInfo(string name, out SafetensorsTensorInfo info) => _byName.TryGetValue(name, out info!);

    public static SafetensorsFile Open(string path)
    {
        var handle = CheckpointIO.OpenHandle(path);
        try
        {
            var (dataStart, metadata, tensors) = ReadHeader(handle, path);
            return new SafetensorsFile(path, handle, dataStart, metadata, tensors);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads one tensor into a new CPU tensor.</summary>
    public Tensor Read(string name)
    {
        if (!_byName.TryGetValue(name, out var info))
            throw new CheckpointContentException(Path, $"has no tensor named '{name}'.");
        if (info.DType is null)
            throw new CheckpointFormatException(Path, $"tensor '{name}' has dtype {info.DTypeCode}, which StarStudio cannot load " +
                                                      $"(supported: {string.Join(", ", CheckpointDType.All.Select(d => d.SafetensorsCode))}).");
        long offset = DataStart + info.Begin;
        var flat = TensorBytes.ReadFlat(info.DType, info.Numel, span =>
        {
            CheckpointIO.ReadExactly(_handle, span, offset, Path);
            offset += span.Length;
        });
        using (flat)
        {
            if (info.DType.Type == ScalarType.Bool && !TensorBytes.BoolBytesAreValid(flat))
                throw new CheckpointFormatException(Path, $"bool tensor '{name}' holds bytes other than 0 and 1.");
            return flat.reshape(info.Shape);
        }
    }

    /// <summary>Reads every tensor (in data order, so the disk is read front to back).</summary>
    public Dictionary<string, Tensor> ReadAll()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var info in Tensors) result[info.Name] = Read(info.Name);
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    public void Dispose() => _handle.Dispose();

    static (long DataStart, Dictionary<string, string> Metadata, List<SafetensorsTensorInfo> Tensors) ReadHeader(SafeFileHandle handle, string path)
    {
        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
            throw new CheckpointFormatException(path, $"is {fileLength} bytes long, too short for a safetensors file (8-byte header length missing).");
        Span<byte> lengthBytes = stackalloc byte[8];
        CheckpointIO.ReadExactly(handle, lengthBytes, 0, path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)MaxHeaderBytes)
            throw new CheckpointFormatException(path, $"safetensors header claims {headerLength} bytes, more than the {MaxHeaderBytes}-byte limit: not a safetensors file, or corrupt.");
        if ((long)headerLength > fileLength - 8)
            throw new CheckpointFormatException(path, $"safetensors header claims {headerLength} bytes but only {fileLength - 8} follow the length field: the file is truncated or corrupt.");
        if (headerLength < 2)
            throw new CheckpointFormatException(path, "safetensors header is empty.");

        var header = new byte[headerLength];
        CheckpointIO.ReadExactly(handle, header, 8, path);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw new CheckpointFormatException(path, $"safetensors header is not valid JSON: {e.Message}", e); }

        using (doc)
        {
            try { return Interpret(doc, path, dataStart, dataLength); }
            catch (InvalidOperationException e) // JsonDocument parses invalid UTF-8 in strings lazily
            {
                throw new CheckpointFormatException(path, $"safetensors header holds invalid text: {e.Message}", e);
            }
        }
    }

    static (long DataStart, Dictionary<string, string> Metadata, List<SafetensorsTensorInfo> Tensors) Interpret(
        JsonDocument doc, string path, long dataStart, long dataLength)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, "safetensors header is not a JSON object.");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new List<SafetensorsTensorInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(prop.Name))
                throw new CheckpointFormatException(path, $"safetensors header names '{prop.Name}' twice.");
            if (prop.Name == "__metadata__") ReadMetadata(prop.Value, metadata, path);
            else tensors.Add(ReadEntry(prop.Name, prop.Value, dataLength, path));
        }
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        for (int i = 1; i < tensors.Count; i++)
            if (tensors[i].Begin < tensors[i - 1].End)
                throw new CheckpointFormatException(path, $"tensors '{tensors[i - 1].Name}' and '{tensors[i].Name}' overlap in the data section.");
        return (dataStart, metadata, tensors);
    }

    static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, "safetensors __metadata__ is not a JSON object.");
        foreach (var p in element.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointFormatException(path, $"safetensors __metadata__ value '{p.Name}' is not a string.");
            metadata[p.Name] = p.Value.GetString()!;
        }
    }

    static SafetensorsTensorInfo ReadEntry(string name, JsonElement e, long dataLength, string path)
    {
        string Bad(string what) => throw new CheckpointFormatException(path, $"safetensors entry '{name}': {what}");
        if (e.ValueKind != JsonValueKind.Object) Bad("is not a JSON object.");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) Bad("has no string 'dtype'.");
        string code = dt.GetString()!;
        var dtype = CheckpointDType.FromSafetensors(code);
        int size = dtype?.Size ?? (CheckpointDType.UnsupportedSafetensorsSizes.TryGetValue(code, out int s) ? s : 0);
        if (size == 0) Bad($"unknown dtype '{code}'.");

        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) Bad("has no 'shape' array.");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0) Bad("shape holds something other than non-negative integers.");
            shape[i++] = d.GetInt64();
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2) Bad("has no 'data_offsets' pair.");
        var o = off.EnumerateArray().ToArray();
        if (!o[0].TryGetInt64(out long begin) || !o[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            Bad("data_offsets are not two ordered non-negative integers.");
        if (end > dataLength)
            Bad($"data_offsets [{begin}, {end}] point past the end of the data section ({dataLength} bytes): the file is truncated or its header lies.");
        long? numel = TensorBytes.Numel(shape);
        long? bytes = numel is null ? null : TensorBytes.ByteSize(numel.Value, size);
        if (bytes is null) Bad($"shape {TensorBytes.FormatShape(shape)} is too large.");
        if (bytes != end - begin)
            Bad($"shape {TensorBytes.FormatShape(shape)} of {code} needs {bytes} bytes but data_offsets span {end - begin}.");
        return new SafetensorsTensorInfo(name, code, dtype, shape, begin, end);
    }
}

/// <summary>Writes safetensors files: keys sorted, data in key order, header padded to 8 bytes.</summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var header = BuildHeader(names, tensors, metadata);

        // Write beside the target and rename, so a crash never leaves a half-written file under the real name.
        string temp = path + ".partial";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                stream.Write(len);
                stream.Write(header);
                foreach (var name in names) TensorBytes.Write(tensors[name], stream);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    static byte[] BuildHeader(List<string> names, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var name in names)
            {
                if (name.Length == 0 || name == "__metadata__") throw new ArgumentException($"'{name}' cannot name a tensor in a safetensors file.", nameof(tensors));
                var t = tensors[name];
                var dtype = CheckpointDType.FromScalarType(t.dtype)
                            ?? throw new ArgumentException($"Tensor '{name}' has type {t.dtype}, which safetensors files here do not store.", nameof(tensors));
                long bytes = t.NumberOfElements * dtype.Size;
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.SafetensorsCode);
                json.WriteStartArray("shape");
                foreach (long d in t.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        // Pad with spaces (valid JSON whitespace) so tensor data starts 8-byte aligned.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
