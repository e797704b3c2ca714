// Lists what a checkpoint holds without reading tensor data (for `starstudio inspect`): every tensor
// with its key path, shape, type and size, the placeholders for Python objects, and where the state dict is.
using System.Numerics;

namespace StarStudio.Model.Checkpoints;

public sealed record InspectedTensor(string Key, long[] Shape, string DType, long ByteSize)
{
    public long Numel => TensorBytes.Numel(Shape) ?? 0;
}

/// <summary>A Python object kept as an inert placeholder: where it is and which global built it.</summary>
public sealed record InspectedPlaceholder(string KeyPath, string Global);

public sealed record CheckpointInspection(
    string Path,
    CheckpointFormat Format,
    IReadOnlyList<InspectedTensor> Tensors,
    /// <summary>Sum of element counts over every distinct tensor in the file (optimizer state included).</summary>
    long ParameterCount,
    /// <summary>Sum of distinct tensors' byte sizes (views sharing a storage each count their own size).</summary>
    long TensorBytes,
    IReadOnlyList<InspectedPlaceholder> Placeholders,
    /// <summary>Every global the pickle names (empty for safetensors).</summary>
    IReadOnlyList<string> Globals,
    /// <summary>safetensors __metadata__ (empty for torch.save files).</summary>
    IReadOnlyDictionary<string, string> Metadata,
    /// <summary>Where auto-detection finds the state dict, or null when it finds none.</summary>
    IReadOnlyList<string>? StateDictKeyPath);

public static class CheckpointInspector
{
    /// <summary>Deeper nesting than this is not a checkpoint; stopping keeps a hostile file from exhausting the stack.</summary>
    const int MaxDepth = 64;

    public static CheckpointInspection Inspect(string path)
    {
        var format = CheckpointFile.DetectFormat(path)
                     ?? (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? CheckpointFormat.Safetensors : CheckpointFormat.PyTorchZip);
        return format == CheckpointFormat.Safetensors ? InspectSafetensors(path) : InspectPth(path);
    }

    static CheckpointInspection InspectSafetensors(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var tensors = file.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal)
            .Select(t => new InspectedTensor(t.Name, t.Shape, t.DType?.Name ?? t.DTypeCode, t.ByteSize)).ToList();
        return new CheckpointInspection(path, CheckpointFormat.Safetensors, tensors, tensors.Sum(t => t.Numel), tensors.Sum(t => t.ByteSize),
            [], [], new Dictionary<string, string>(file.Metadata), tensors.Count > 0 ? [] : null);
    }

    static CheckpointInspection InspectPth(string path)
    {
        using var file = PthFile.Load(path);
        var walker = new Walker(path);
        walker.Walk(file.Root, "", 0);

        string[]? stateDictPath = null;
        foreach (var candidate in StateDictExtractor.CommonKeyPaths)
            if (StateDictExtractor.TryNavigate(file.Root, candidate, out var node) && StateDictExtractor.IsStateDict(node))
            {
                stateDictPath = candidate;
                break;
            }
        var unique = walker.TensorObjects.Distinct(ReferenceEqualityComparer.Instance).Cast<PthTensor>().ToList();
        return new CheckpointInspection(path, CheckpointFormat.PyTorchZip, walker.Tensors, unique.Sum(t => t.Numel), unique.Sum(t => t.ByteSize),
            walker.Placeholders, file.Globals.Select(g => g.FullName).ToList(), new Dictionary<string, string>(), stateDictPath);
    }

    sealed class Walker(string file)
    {
        // Memo references let a pickle share one container many times (or make it hold itself); walking each
        // container once keeps a small hostile file from costing exponential time.
        readonly HashSet<object> _visited = new(ReferenceEqualityComparer.Instance);
        public List<InspectedTensor> Tensors { get; } = [];
        public List<PthTensor> TensorObjects { get; } = [];
        public List<InspectedPlaceholder> Placeholders { get; } = [];

        public void Walk(object? node, string path, int depth)
        {
            if (node is PthTensor t)
            {
                TensorObjects.Add(t);
                Tensors.Add(new InspectedTensor(path, t.Shape, t.DType.Name, t.ByteSize));
                return;
            }
            if (node is null or string or long or double or bool or BigInteger or byte[] or PickleGlobal) return;
            if (depth > MaxDepth)
                throw new CheckpointFormatException(file, $"objects nest more than {MaxDepth} levels deep at '{path}': not a checkpoint.");
            if (!_visited.Add(node)) return;
            switch (node)
            {
                case PickleDict d:
                    foreach (var (k, v) in d.Items) Walk(v, Join(path, k is string s ? s : StateDictExtractor.KeyText(k)), depth + 1);
                    break;
                case List<object?> list:
                    for (int i = 0; i < list.Count; i++) Walk(list[i], Join(path, i.ToString()), depth + 1);
                    break;
                case object?[] tuple:
                    for (int i = 0; i < tuple.Length; i++) Walk(tuple[i], Join(path, i.ToString()), depth + 1);
                    break;
                case PickleObject o:
                    Placeholders.Add(new InspectedPlaceholder(path.Length == 0 ? "(root)" : path, o.Type.FullName));
                    // Tensors can hide inside objects (a pickled optimizer or module): list them under the object.
                    if (o.State is PickleDict attrs) Walk(attrs, path, depth + 1);
                    else Walk(o.State, Join(path, "__state__"), depth + 1);
                    Walk(o.Args, Join(path, "__args__"), depth + 1);
                    Walk(o.ListItems, Join(path, "__items__"), depth + 1);
                    foreach (var (k, v) in o.DictItems) Walk(v, Join(path, k is string s2 ? s2 : StateDictExtractor.KeyText(k)), depth + 1);
                    break;
            }
        }

        static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;
    }
}
