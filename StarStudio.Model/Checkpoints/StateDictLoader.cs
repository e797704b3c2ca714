// Loads a state dict into a TorchSharp module like PyTorch's load_state_dict(strict=True), but reports
// every missing, unexpected, mis-shaped and mis-typed key at once (with both shapes) instead of the first.
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Checkpoints;

public sealed record StateDictLoadOptions
{
    public static StateDictLoadOptions Default { get; } = new();

    /// <summary>Throw <see cref="CheckpointMismatchException"/> (copying nothing) unless every key matches.</summary>
    public bool Strict { get; init; } = true;

    /// <summary>Key names skipped on both sides: a key matches when it equals an entry or ends with "." + entry
    /// (so "ema_vocab_hit_SV" covers "quantize.ema_vocab_hit_SV").</summary>
    public IReadOnlyCollection<string> IgnoreNames { get; init; } = [];

    /// <summary>Key prefixes skipped on both sides (e.g. "head_proj." for a sampler head the module lacks).</summary>
    public IReadOnlyCollection<string> IgnorePrefixes { get; init; } = [];

    /// <summary>Any further rule for skipping a key.</summary>
    public Func<string, bool>? Ignore { get; init; }

    /// <summary>Convert floating-point checkpoint tensors (fp16, bf16, fp64) to the module's floating type.
    /// Other type differences are always reported as mismatches.</summary>
    public bool ConvertFloatingTypes { get; init; } = true;

    internal bool IsIgnored(string key) =>
        IgnoreNames.Any(n => key == n || key.EndsWith("." + n, StringComparison.Ordinal))
        || IgnorePrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal))
        || (Ignore?.Invoke(key) ?? false);
}

public sealed record ShapeMismatch(string Key, long[] CheckpointShape, long[] ModuleShape)
{
    public override string ToString() =>
        $"{Key}: checkpoint {TensorBytes.FormatShape(CheckpointShape)} vs module {TensorBytes.FormatShape(ModuleShape)}";
}

public sealed record TypeMismatch(string Key, ScalarType CheckpointType, ScalarType ModuleType)
{
    public override string ToString() => $"{Key}: checkpoint {CheckpointType} vs module {ModuleType}";
}

/// <summary>What a load found: every key of the module and of the checkpoint lands in exactly one list.</summary>
public sealed class StateDictLoadReport
{
    public StateDictLoadReport(string moduleType, IReadOnlyList<string> loaded, IReadOnlyList<string> missing,
        IReadOnlyList<string> unexpected, IReadOnlyList<ShapeMismatch> shapeMismatches,
        IReadOnlyList<TypeMismatch> typeMismatches, IReadOnlyList<string> ignored, IReadOnlyList<string> converted)
    {
        ModuleType = moduleType;
        Loaded = loaded;
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatches = shapeMismatches;
        TypeMismatches = typeMismatches;
        Ignored = ignored;
        Converted = converted;
    }

    public string ModuleType { get; }
    /// <summary>Keys copied (or that would be copied, when a strict load threw).</summary>
    public IReadOnlyList<string> Loaded { get; }
    /// <summary>Module keys the checkpoint lacks.</summary>
    public IReadOnlyList<string> Missing { get; }
    /// <summary>Checkpoint keys the module lacks.</summary>
    public IReadOnlyList<string> Unexpected { get; }
    public IReadOnlyList<ShapeMismatch> ShapeMismatches { get; }
    public IReadOnlyList<TypeMismatch> TypeMismatches { get; }
    /// <summary>Keys skipped by the options, from either side.</summary>
    public IReadOnlyList<string> Ignored { get; }
    /// <summary>Loaded keys whose floating type was converted to the module's.</summary>
    public IReadOnlyList<string> Converted { get; }

    public bool IsComplete => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0 && TypeMismatches.Count == 0;

    /// <summary>A readable summary: counts first, then each group; keys differing only in numbers (block indices)
    /// are folded into one line, and each group stops after maxLinesPerGroup lines.</summary>
    public string Describe(string? filePath = null, int maxLinesPerGroup = 20)
    {
        var sb = new System.Text.StringBuilder();
        string source = filePath is null ? "The state dict" : $"The state dict from {filePath}";
        if (IsComplete)
        {
            sb.Append($"{source} matches {ModuleType}: {Loaded.Count} keys loaded");
            if (Ignored.Count > 0) sb.Append($", {Ignored.Count} ignored");
            return sb.Append('.').ToString();
        }
        var counts = new List<string>();
        if (Missing.Count > 0) counts.Add($"{Missing.Count} missing");
        if (Unexpected.Count > 0) counts.Add($"{Unexpected.Count} unexpected");
        if (ShapeMismatches.Count > 0) counts.Add($"{ShapeMismatches.Count} with the wrong shape");
        if (TypeMismatches.Count > 0) counts.Add($"{TypeMismatches.Count} with the wrong type");
        sb.Append($"{source} does not match {ModuleType}: {string.Join(", ", counts)} ({Loaded.Count} keys match");
        if (Ignored.Count > 0) sb.Append($", {Ignored.Count} ignored");
        sb.Append(").");

        AppendGroup(sb, "Missing from the checkpoint", Missing.Select(k => (k, "")), maxLinesPerGroup);
        AppendGroup(sb, "Unexpected in the checkpoint", Unexpected.Select(k => (k, "")), maxLinesPerGroup);
        AppendGroup(sb, "Shape mismatch", ShapeMismatches.Select(m => (m.Key,
            $": checkpoint {TensorBytes.FormatShape(m.CheckpointShape)} vs module {TensorBytes.FormatShape(m.ModuleShape)}")), maxLinesPerGroup);
        AppendGroup(sb, "Type mismatch", TypeMismatches.Select(m => (m.Key, $": checkpoint {m.CheckpointType} vs module {m.ModuleType}")), maxLinesPerGroup);
        return sb.ToString();
    }

    static void AppendGroup(System.Text.StringBuilder sb, string title, IEnumerable<(string Key, string Detail)> items, int maxLines)
    {
        var list = items.ToList();
        if (list.Count == 0) return;
        sb.Append($"\n{title} ({list.Count}):");
        // Fold keys that differ only in numeric segments and share the detail: blocks.0.x ... blocks.15.x -> blocks.*.x (16 keys).
        var groups = new List<(string Pattern, string Detail, List<string> Keys)>();
        var index = new Dictionary<(string, string), int>();
        foreach (var (key, detail) in list)
        {
            var pattern = string.Join('.', key.Split('.').Select(s => s.Length > 0 && s.All(char.IsAsciiDigit) ? "*" : s));
            if (!index.TryGetValue((pattern, detail), out int i))
            {
                index[(pattern, detail)] = i = groups.Count;
                groups.Add((pattern, detail, []));
            }
            groups[i].Keys.Add(key);
        }
        int shown = 0;
        foreach (var (pattern, detail, keys) in groups)
        {
            if (shown == maxLines)
            {
                int rest = groups.Skip(shown).Sum(g => g.Keys.Count);
                sb.Append($"\n  ... and {rest} more (the exception's Report lists every key)");
                break;
            }
            sb.Append(keys.Count == 1 ? $"\n  {keys[0]}{detail}" : $"\n  {pattern}{detail} ({keys.Count} keys)");
            shown++;
        }
    }

    public override string ToString() => Describe();
}

public static class StateDictLoader
{
    /// <summary>
    /// Copies the matching tensors of stateDict into module's parameters and buffers (under no_grad) and reports
    /// every key that did not match. In strict mode (the default) any mismatch throws before anything is copied.
    /// </summary>
    public static StateDictLoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict,
                                           StateDictLoadOptions? options = null, string? filePath = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stateDict);
        options ??= StateDictLoadOptions.Default;
        var targets = module.state_dict();

        var loaded = new List<string>();
        var missing = new List<string>();
        var unexpected = new List<string>();
        var shapeMismatches = new List<ShapeMismatch>();
        var typeMismatches = new List<TypeMismatch>();
        var ignored = new List<string>();
        var converted = new List<string>();

        foreach (var (key, target) in targets)
        {
            if (options.IsIgnored(key)) { ignored.Add(key); continue; }
            if (!stateDict.TryGetValue(key, out var source)) { missing.Add(key); continue; }
            if (!source.shape.SequenceEqual(target.shape))
            {
                shapeMismatches.Add(new(key, source.shape, target.shape));
                continue;
            }
            if (source.dtype != target.dtype)
            {
                if (options.ConvertFloatingTypes && is_floating_point(source.dtype) && is_floating_point(target.dtype))
                    converted.Add(key);
                else
                {
                    typeMismatches.Add(new(key, source.dtype, target.dtype));
                    continue;
                }
            }
            loaded.Add(key);
        }
        foreach (var key in stateDict.Keys)
        {
            if (targets.ContainsKey(key)) continue;
            if (options.IsIgnored(key)) ignored.Add(key);
            else unexpected.Add(key);
        }

        var report = new StateDictLoadReport(module.GetType().Name, loaded, missing, unexpected, shapeMismatches,
                                             typeMismatches, ignored, converted);
        if (options.Strict && !report.IsComplete) throw new CheckpointMismatchException(report, filePath);

        using (no_grad())
        {
            // copy_ converts type and device itself; no intermediate tensor is made.
            foreach (var key in loaded) targets[key].copy_(stateDict[key]);
        }
        return report;
    }
}
