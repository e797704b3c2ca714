// Finds the state dict inside a torch.save object tree: at an explicit key path, or at one of the
// places common checkpoints keep it (STAR/VAR trainer checkpoints: ["trainer"]["var_wo_ddp"]).
using System.Numerics;

namespace StarStudio.Model.Checkpoints;

public static class StateDictExtractor
{
    /// <summary>Where auto-detection looks, in order: the root itself, then common nests.</summary>
    public static IReadOnlyList<string[]> CommonKeyPaths { get; } =
        [[], ["trainer", "var_wo_ddp"], ["model"], ["state_dict"], ["module"]];

    /// <summary>Formats a key path for messages: "trainer/var_wo_ddp", or "(root)".</summary>
    public static string FormatKeyPath(IReadOnlyList<string> keyPath) => keyPath.Count == 0 ? "(root)" : string.Join("/", keyPath);

    /// <summary>Follows a key path through dicts (string or int keys), lists/tuples (indices) and placeholder
    /// objects (their BUILD attributes). False when a step does not exist.</summary>
    public static bool TryNavigate(object? root, IReadOnlyList<string> keyPath, out object? node)
    {
        node = root;
        foreach (var step in keyPath)
        {
            if (!TryStep(node, step, out node)) return false;
        }
        return true;
    }

    /// <summary>Auto-detects the state dict: the first of <see cref="CommonKeyPaths"/> that is a dict of tensors.</summary>
    public static string[] DetectKeyPath(object? root, string? filePath = null)
    {
        foreach (var path in CommonKeyPaths)
            if (TryNavigate(root, path, out var node) && IsStateDict(node)) return path;

        var sb = new System.Text.StringBuilder("holds no state dict where checkpoints usually keep one (tried ");
        sb.Append(string.Join(", ", CommonKeyPaths.Select(FormatKeyPath))).Append(").");
        if (root is PickleDict top)
        {
            sb.Append(" Its top level holds: ");
            sb.Append(string.Join(", ", top.Items.Take(20).Select(p => $"{KeyText(p.Key)} ({RestrictedUnpickler.Describe(p.Value)})")));
            sb.Append(top.Count > 20 ? ", ..." : ".");
        }
        else sb.Append($" Its root is a {RestrictedUnpickler.Describe(root)}.");
        sb.Append(" Pass the key path of the state dict explicitly.");
        throw new CheckpointContentException(filePath, sb.ToString());
    }

    /// <summary>The tensors of the state dict at keyPath, validated: every key a string, every value a tensor.</summary>
    public static Dictionary<string, PthTensor> Find(object? root, IReadOnlyList<string> keyPath, string? filePath = null)
    {
        object? node = root;
        for (int i = 0; i < keyPath.Count; i++)
        {
            if (!TryStep(node, keyPath[i], out var next))
            {
                string at = FormatKeyPath(keyPath.Take(i).ToList());
                string available = node is PickleDict d
                    ? "available keys: " + string.Join(", ", d.Keys.Take(30).Select(KeyText)) + (d.Count > 30 ? ", ..." : "")
                    : $"it is a {RestrictedUnpickler.Describe(node)}";
                throw new CheckpointContentException(filePath, $"has no key '{keyPath[i]}' at {at} ({available}).");
            }
            node = next;
        }
        string where = FormatKeyPath(keyPath);
        if (node is PickleObject placeholder)
            throw new CheckpointContentException(filePath, $"the object at '{where}' is an instance of the Python global {placeholder.Type.FullName} " +
                                                           "(kept as an inert placeholder, never executed), not a state dict of tensors.");
        if (node is not PickleDict dict)
            throw new CheckpointContentException(filePath, $"the object at '{where}' is a {RestrictedUnpickler.Describe(node)}, not a state dict.");

        var result = new Dictionary<string, PthTensor>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name)
            {
                problems.Add($"key {KeyText(key)} is a {RestrictedUnpickler.Describe(key)}, not a string");
                continue;
            }
            string keyPathText = keyPath.Count == 0 ? name : $"{where}/{name}";
            switch (value)
            {
                case PthTensor t: result[name] = t; break;
                case PickleObject o:
                    problems.Add($"'{keyPathText}' is a placeholder for the Python global {o.Type.FullName}, not a tensor");
                    break;
                default:
                    problems.Add($"'{keyPathText}' is a {RestrictedUnpickler.Describe(value)}, not a tensor");
                    break;
            }
        }
        if (problems.Count > 0)
            throw new CheckpointContentException(filePath, $"the dict at '{where}' is not a state dict of tensors: " +
                string.Join("; ", problems.Take(8)) + (problems.Count > 8 ? $"; and {problems.Count - 8} more." : "."));
        return result;
    }

    /// <summary>Reads the state dict at keyPath (auto-detected when null) into CPU tensors.</summary>
    public static LoadedStateDict Extract(PthFile file, IReadOnlyList<string>? keyPath = null)
    {
        bool auto = keyPath is null;
        var path = keyPath?.ToArray() ?? DetectKeyPath(file.Root, file.Path);
        var descriptors = Find(file.Root, path, file.Path);
        var tensors = new Dictionary<string, TorchSharp.torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, t) in descriptors) tensors[name] = t.ToTensor();
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new LoadedStateDict(file.Path, CheckpointFormat.PyTorchZip, path, auto, tensors);
    }

    internal static bool IsStateDict(object? node) =>
        node is PickleDict { Count: > 0 } d && d.Items.All(p => p.Key is string && p.Value is PthTensor);

    static bool TryStep(object? node, string step, out object? next)
    {
        next = null;
        switch (node)
        {
            case PickleDict d:
                if (d.TryGetValue(step, out next)) return true;
                return long.TryParse(step, out long k) && d.TryGetValue(k, out next);
            case List<object?> list:
                if (!int.TryParse(step, out int i) || i < 0 || i >= list.Count) return false;
                next = list[i];
                return true;
            case object?[] tuple:
                if (!int.TryParse(step, out int j) || j < 0 || j >= tuple.Length) return false;
                next = tuple[j];
                return true;
            case PickleObject { State: PickleDict attrs }:
                return attrs.TryGetValue(step, out next);
            default:
                return false;
        }
    }

    internal static string KeyText(object? key) => key switch
    {
        string s => $"'{s}'",
        long or BigInteger => key.ToString()!,
        null => "None",
        _ => RestrictedUnpickler.Describe(key),
    };
}
