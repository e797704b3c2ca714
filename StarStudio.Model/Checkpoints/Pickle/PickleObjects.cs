// The inert object tree a restricted unpickle produces. Python values map to: None -> null, bool, long
// (BigInteger beyond 64 bits), double, string, byte[], list -> List<object?>, tuple -> object?[],
// dict -> PickleDict, a global -> PickleGlobal, anything built from a global -> PickleObject, and
// PyTorch tensors -> PthTensor. Nothing here can run code: globals are names, never resolved.
using System.Numerics;

namespace StarStudio.Model.Checkpoints;

/// <summary>A Python global (class or function) named by the pickle: recorded, never imported.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>
/// An inert stand-in for a Python object the pickle builds from a global StarStudio does not interpret
/// (e.g. utils.arg_util.Args): what was called, with which arguments, and the state BUILD gave it.
/// </summary>
public sealed class PickleObject
{
    internal PickleObject(PickleGlobal type, object?[] args, string constructedBy)
    {
        Type = type;
        Args = args;
        ConstructedBy = constructedBy;
    }

    public PickleGlobal Type { get; }
    public object?[] Args { get; }
    /// <summary>The opcode that built it: REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ, or EMPTY_SET/FROZENSET.</summary>
    public string ConstructedBy { get; }
    public object? Keywords { get; internal set; }
    /// <summary>The argument of BUILD (usually a dict of attributes), or null.</summary>
    public object? State { get; internal set; }
    /// <summary>Items appended with APPEND/APPENDS/ADDITEMS (list subclasses, sets).</summary>
    public List<object?> ListItems { get; } = [];
    /// <summary>Items set with SETITEM/SETITEMS (dict subclasses).</summary>
    public List<KeyValuePair<object?, object?>> DictItems { get; } = [];

    public override string ToString() => $"<{Type.FullName} placeholder>";
}

/// <summary>A Python dict or dict subclass (collections.OrderedDict, defaultdict), in insertion order.</summary>
public sealed class PickleDict
{
    static readonly object NullKey = new();
    readonly List<KeyValuePair<object?, object?>> _items = [];
    readonly Dictionary<object, int> _index = new(PickleKeyComparer.Instance);

    public PickleDict(string typeName = "dict") => TypeName = typeName;

    /// <summary>"dict", "collections.OrderedDict", ...</summary>
    public string TypeName { get; }
    public IReadOnlyList<KeyValuePair<object?, object?>> Items => _items;
    public int Count => _items.Count;
    /// <summary>Instance attributes given by BUILD, e.g. the _metadata torch attaches to state dicts.</summary>
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);

    public IEnumerable<object?> Keys => _items.Select(p => p.Key);

    public bool TryGetValue(object? key, out object? value)
    {
        if (_index.TryGetValue(key ?? NullKey, out int i))
        {
            value = _items[i].Value;
            return true;
        }
        value = null;
        return false;
    }

    public bool ContainsKey(object? key) => _index.ContainsKey(key ?? NullKey);

    public object? this[object? key] =>
        TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The {TypeName} has no key {StateDictExtractor.KeyText(key)}.");

    /// <summary>Sets a value; an existing key keeps its position, as in Python.</summary>
    public void Set(object? key, object? value)
    {
        if (_index.TryGetValue(key ?? NullKey, out int i)) _items[i] = new(_items[i].Key, value);
        else
        {
            _index[key ?? NullKey] = _items.Count;
            _items.Add(new(key, value));
        }
    }

    public override string ToString() => $"{TypeName} with {Count} items";
}

/// <summary>Python-like key equality: tuples compare by value, numbers by value; other objects by reference.</summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object>
{
    public static readonly PickleKeyComparer Instance = new();
    // Deeper tuples fall back to reference equality so a hostile pickle cannot recurse without bound.
    const int MaxDepth = 16;

    public new bool Equals(object? x, object? y) => Eq(x, y, 0);
    public int GetHashCode(object obj) => Hash(obj, 0);

    static bool Eq(object? x, object? y, int depth)
    {
        if (ReferenceEquals(x, y)) return true;
        if (x is null || y is null) return false;
        if (x is object?[] a && y is object?[] b)
        {
            if (depth >= MaxDepth || a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++) if (!Eq(a[i], b[i], depth + 1)) return false;
            return true;
        }
        if (x is string or long or double or bool or BigInteger or PickleGlobal) return x.Equals(y);
        if (x is byte[] bx && y is byte[] by) return bx.AsSpan().SequenceEqual(by);
        return false;
    }

    static int Hash(object? obj, int depth)
    {
        switch (obj)
        {
            case null: return 0;
            case object?[] a:
                if (depth >= MaxDepth) return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(a);
                var h = new HashCode();
                foreach (var item in a) h.Add(Hash(item, depth + 1));
                return h.ToHashCode();
            case string or long or double or bool or BigInteger or PickleGlobal: return obj.GetHashCode();
            case byte[] b:
                var hb = new HashCode();
                hb.AddBytes(b);
                return hb.ToHashCode();
            default: return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
        }
    }
}
