// Keys and shapes of a checkpoint's state dict without reading any tensor data: what `models add` checks.
using StarStudio.Model.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Models;

/// <summary>A state dict's keys and shapes, and where in its file it sits.</summary>
/// <param name="KeyPath">torch.save files: the object path ("trainer", "var_wo_ddp"); empty for the root.</param>
public sealed record CheckpointShapes(string Path, CheckpointFormat Format, IReadOnlyList<string> KeyPath, IReadOnlyDictionary<string, long[]> Shapes, long Bytes)
{
    /// <summary>Reads the header (safetensors) or the pickle (torch.save; the state dict is found by auto-detection,
    /// e.g. under trainer/var_wo_ddp). No tensor data is read.</summary>
    public static CheckpointShapes Read(string path)
    {
        var format = CheckpointFile.DetectFormat(path)
                     ?? (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? CheckpointFormat.Safetensors : CheckpointFormat.PyTorchZip);
        if (format == CheckpointFormat.Safetensors)
        {
            using var st = SafetensorsFile.Open(path);
            return new CheckpointShapes(path, format, [], st.Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal), st.Tensors.Sum(t => t.ByteSize));
        }
        using var file = PthFile.Load(path);
        var keyPath = StateDictExtractor.DetectKeyPath(file.Root, path);
        var tensors = StateDictExtractor.Find(file.Root, keyPath, path);
        return new CheckpointShapes(path, format, keyPath, tensors.ToDictionary(t => t.Key, t => t.Value.Shape, StringComparer.Ordinal), tensors.Values.Sum(t => t.ByteSize));
    }

    /// <summary>The module's own keys and shapes. Build it on the meta device: no memory is used.</summary>
    public static Dictionary<string, long[]> Of(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);

    /// <summary>Number of "prefix.N." blocks (max N + 1), 0 when there are none.</summary>
    public int CountBlocks(string prefix)
    {
        int max = -1;
        foreach (var key in Shapes.Keys)
        {
            if (!key.StartsWith(prefix + ".", StringComparison.Ordinal)) continue;
            var rest = key.AsSpan(prefix.Length + 1);
            int dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest[..dot], out int n)) max = Math.Max(max, n);
        }
        return max + 1;
    }

    public long[]? ShapeOf(string key) => Shapes.TryGetValue(key, out var s) ? s : null;
    public bool Has(string key) => Shapes.ContainsKey(key);
}

/// <summary>How one file compares with the module it is meant for.</summary>
public sealed record ComponentCheck(string Role, string File, string Source, int Matched,
    IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<ShapeMismatch> ShapeMismatches, IReadOnlyList<string> Ignored)
{
    public bool Ok => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;

    /// <summary>Compares file shapes with module shapes; keys matching ignore are skipped on both sides.</summary>
    public static ComponentCheck Compare(string role, string file, string source, IReadOnlyDictionary<string, long[]> fileShapes,
        IReadOnlyDictionary<string, long[]> moduleShapes, Func<string, bool>? ignore = null)
    {
        ignore ??= _ => false;
        var missing = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        var ignored = new List<string>();
        int matched = 0;
        foreach (var (key, shape) in moduleShapes.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (ignore(key)) { ignored.Add(key); continue; }
            if (!fileShapes.TryGetValue(key, out var got)) missing.Add(key);
            else if (!got.SequenceEqual(shape)) mismatched.Add(new ShapeMismatch(key, got, shape));
            else matched++;
        }
        var unexpected = new List<string>();
        foreach (var key in fileShapes.Keys.Order(StringComparer.Ordinal))
        {
            if (moduleShapes.ContainsKey(key)) continue;
            if (ignore(key)) ignored.Add(key);
            else unexpected.Add(key);
        }
        return new ComponentCheck(role, file, source, matched, missing, unexpected, mismatched, ignored);
    }

    /// <summary>One line per problem (folded like the loader's report), or a one-line success.</summary>
    public string Describe(int maxLines = 40)
    {
        if (Ok) return $"{Role}: {File}{(Source.Length > 0 ? $" [{Source}]" : "")}: all {Matched} tensors match" + (Ignored.Count > 0 ? $" ({Ignored.Count} ignored: {string.Join(", ", Ignored.Take(3))}{(Ignored.Count > 3 ? ", ..." : "")})." : ".");
        var report = new StateDictLoadReport(Role, [], Missing, Unexpected, ShapeMismatches, [], Ignored, []);
        return $"{Role}: " + report.Describe(File, maxLines);
    }
}
