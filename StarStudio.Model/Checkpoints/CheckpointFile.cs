// One entry point for "give me the state dict in this file", whatever its format. The format is decided
// by the file's first bytes, not its extension (.bin is used for both torch.save and safetensors files).
using System.Buffers.Binary;

namespace StarStudio.Model.Checkpoints;

public static class CheckpointFile
{
    /// <summary>The format the file's leading bytes announce, or null when they match neither.</summary>
    public static CheckpointFormat? DetectFormat(string path)
    {
        using var stream = CheckpointIO.OpenRead(path, bufferSize: 1);
        Span<byte> head = stackalloc byte[9];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n >= 4 && head[..4].SequenceEqual("PK\x03\x04"u8)) return CheckpointFormat.PyTorchZip;
        // safetensors: a little-endian header length, then the JSON header's opening brace.
        if (n == 9 && head[8] == (byte)'{' && BinaryPrimitives.ReadUInt64LittleEndian(head) <= (ulong)SafetensorsFile.MaxHeaderBytes)
            return CheckpointFormat.Safetensors;
        return null;
    }

    /// <summary>
    /// Reads a state dict. For torch.save files keyPath walks the object tree (null: auto-detect, see
    /// <see cref="StateDictExtractor.CommonKeyPaths"/>); for safetensors it selects keys under the dotted
    /// prefix and strips it.
    /// </summary>
    public static LoadedStateDict ReadStateDict(string path, IReadOnlyList<string>? keyPath = null)
    {
        var format = DetectFormat(path);
        // Unrecognised bytes: let the reader the extension suggests explain what is wrong with the file.
        format ??= path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? CheckpointFormat.Safetensors : CheckpointFormat.PyTorchZip;
        if (format == CheckpointFormat.PyTorchZip)
        {
            using var file = PthFile.Load(path);
            return StateDictExtractor.Extract(file, keyPath);
        }
        return ReadSafetensors(path, keyPath);
    }

    static LoadedStateDict ReadSafetensors(string path, IReadOnlyList<string>? keyPath)
    {
        using var file = SafetensorsFile.Open(path);
        string prefix = keyPath is { Count: > 0 } ? string.Join(".", keyPath) + "." : "";
        var names = file.Tensors.Select(t => t.Name).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        if (names.Count == 0 && file.Tensors.Count > 0 && prefix.Length > 0)
            throw new CheckpointContentException(path, $"has no tensor under the prefix '{prefix}'.");
        var tensors = new Dictionary<string, TorchSharp.torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in names) tensors[name[prefix.Length..]] = file.Read(name);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new LoadedStateDict(path, CheckpointFormat.Safetensors, keyPath?.ToArray() ?? [], false, tensors);
    }
}
