// A state dict read from a checkpoint file, with where it came from. It owns its tensors.
using System.Collections;
using static TorchSharp.torch;

namespace StarStudio.Model.Checkpoints;

public enum CheckpointFormat
{
    /// <summary>safetensors: StarStudio's format of record.</summary>
    Safetensors,
    /// <summary>torch.save zip archive (.pth, .pt, .bin, .ckpt).</summary>
    PyTorchZip,
}

/// <summary>Tensors by state-dict key, plus the file, its format and the key path they were found at.
/// Disposing it disposes the tensors.</summary>
public sealed class LoadedStateDict : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    readonly Dictionary<string, Tensor> _tensors;

    internal LoadedStateDict(string filePath, CheckpointFormat format, string[] keyPath, bool autoDetected, Dictionary<string, Tensor> tensors)
    {
        FilePath = filePath;
        Format = format;
        KeyPath = keyPath;
        AutoDetected = autoDetected;
        _tensors = tensors;
    }

    public string FilePath { get; }
    public CheckpointFormat Format { get; }
    /// <summary>Where in the file the state dict was (empty: the root; for safetensors, a key prefix).</summary>
    public IReadOnlyList<string> KeyPath { get; }
    /// <summary>True when the key path was found by auto-detection rather than given.</summary>
    public bool AutoDetected { get; }
    /// <summary>"trainer/var_wo_ddp", "(root)", ...: for logs and the CLI.</summary>
    public string Source => StateDictExtractor.FormatKeyPath(KeyPath);

    public Tensor this[string key] => _tensors[key];
    public IEnumerable<string> Keys => _tensors.Keys;
    public IEnumerable<Tensor> Values => _tensors.Values;
    public int Count => _tensors.Count;
    public bool ContainsKey(string key) => _tensors.ContainsKey(key);
    public bool TryGetValue(string key, out Tensor value) => _tensors.TryGetValue(key, out value!);
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => _tensors.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
