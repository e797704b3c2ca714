// Test-only model of what torch.save writes: Python values (OrderedDict state dicts, tensors on
// storages, nested dicts, plain objects, calls) serialised with PickleWriter in the order torch.save's
// pickler emits them, then packed by TorchZip into the archive layout.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace StarStudio.Tests.Checkpoints.Fixtures;

/// <summary>A storage: raw little-endian bytes of numel elements of torch.&lt;StorageClass&gt;.</summary>
internal sealed class FxStorage(string storageClass, byte[] data, long numel)
{
    public string StorageClass { get; } = storageClass;
    public byte[] Data { get; } = data;
    public long Numel { get; set; } = numel;

    public static FxStorage Float(params float[] v) => new("FloatStorage", Bytes(v, 4, (s, x) => BinaryPrimitives.WriteSingleLittleEndian(s, x)), v.Length);
    public static FxStorage Double(params double[] v) => new("DoubleStorage", Bytes(v, 8, (s, x) => BinaryPrimitives.WriteDoubleLittleEndian(s, x)), v.Length);
    public static FxStorage Half(params float[] v) => new("HalfStorage", Bytes(v, 2, (s, x) => BinaryPrimitives.WriteHalfLittleEndian(s, (System.Half)x)), v.Length);
    /// <summary>bfloat16 is the top half of a float32; the test values are exactly representable.</summary>
    public static FxStorage BFloat16(params float[] v) =>
        new("BFloat16Storage", Bytes(v, 2, (s, x) => BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16))), v.Length);
    public static FxStorage Long(params long[] v) => new("LongStorage", Bytes(v, 8, (s, x) => BinaryPrimitives.WriteInt64LittleEndian(s, x)), v.Length);
    public static FxStorage Int(params int[] v) => new("IntStorage", Bytes(v, 4, (s, x) => BinaryPrimitives.WriteInt32LittleEndian(s, x)), v.Length);
    public static FxStorage Bool(params bool[] v) => new("BoolStorage", v.Select(b => b ? (byte)1 : (byte)0).ToArray(), v.Length);

    delegate void Put<T>(Span<byte> span, T value);

    static byte[] Bytes<T>(T[] values, int size, Put<T> put)
    {
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++) put(bytes.AsSpan(i * size, size), values[i]);
        return bytes;
    }
}

/// <summary>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()).</summary>
internal sealed record FxTensor(FxStorage Storage, long Offset, long[] Shape, long[] Stride, bool RequiresGrad = false)
{
    public static FxTensor Contiguous(FxStorage storage, params long[] shape)
    {
        var stride = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { stride[i] = s; s *= shape[i]; }
        return new(storage, 0, shape, stride);
    }
}

/// <summary>torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict()), or _rebuild_parameter_with_state
/// (tensor, requires_grad, OrderedDict(), state) when the Parameter carries Python attributes.</summary>
internal sealed record FxParameter(FxTensor Data, FxDict? State = null);

/// <summary>A tensor subclass: torch._tensor._rebuild_from_type_v2(_rebuild_tensor_v2, cls, args, state).</summary>
internal sealed record FxSubclassTensor(FxTensor Inner, string Module, string Name);

/// <summary>collections.OrderedDict (a state dict), optionally with the _metadata attribute torch attaches.</summary>
internal sealed class FxOrderedDict : List<KeyValuePair<string, object?>>
{
    public FxOrderedDict? Metadata { get; init; }
    public void Add(string key, object? value) => Add(new KeyValuePair<string, object?>(key, value));
}

/// <summary>A plain dict (insertion order kept).</summary>
internal sealed class FxDict : List<KeyValuePair<object, object?>>
{
    public void Add(object key, object? value) => Add(new KeyValuePair<object, object?>(key, value));
}

internal sealed record FxTuple(params object?[] Items);

/// <summary>An instance of a Python class, as protocol 2 pickles it: NEWOBJ, then BUILD with its __dict__.</summary>
internal sealed record FxObject(string Module, string Name, FxDict State);

/// <summary>A call the pickle makes on load (how hostile pickles run code): global, args tuple, REDUCE.</summary>
internal sealed record FxCall(string Module, string Name, object?[] Args, bool StackGlobal = false);

internal static class TorchSave
{
    /// <summary>The data.pkl bytes torch.save (pickle protocol 2) would write for obj, and the storages by key.</summary>
    public static (byte[] Pickle, List<(string Key, FxStorage Storage)> Storages) Pickle(object? obj)
    {
        var w = new PickleWriter();
        var storages = new List<(string, FxStorage)>();
        w.Proto(2);
        Save(w, obj, storages);
        w.Stop();
        return (w.ToArray(), storages);
    }

    /// <summary>Writes a complete torch.save zip archive.</summary>
    public static void Write(string path, object? obj, string archiveName = "archive", string byteOrder = "little")
    {
        var (pickle, storages) = Pickle(obj);
        TorchZip.Write(path, archiveName, pickle, storages.Select(s => (s.Key, s.Storage.Data)), byteOrder);
    }

    static void Save(PickleWriter w, object? obj, List<(string Key, FxStorage Storage)> storages)
    {
        switch (obj)
        {
            case null: w.None(); break;
            case bool b: w.Bool(b); break;
            case int i: w.Int(i); break;
            case long l: w.Int(l); break;
            case double d: w.Float(d); break;
            case string s: w.String(s); break;
            case FxTensor t:
                w.Global("torch._utils", "_rebuild_tensor_v2");
                w.Mark();
                SavePersistentId(w, t.Storage, storages);
                w.Int(t.Offset);
                SaveTuple(w, t.Shape.Cast<object?>().ToArray(), storages);
                SaveTuple(w, t.Stride.Cast<object?>().ToArray(), storages);
                w.Bool(t.RequiresGrad);
                w.Global("collections", "OrderedDict").EmptyTuple().Reduce();
                w.Put();
                w.Tuple();
                w.Put();
                w.Reduce();
                w.Put();
                break;
            case FxParameter p:
                w.Global("torch._utils", p.State is null ? "_rebuild_parameter" : "_rebuild_parameter_with_state");
                if (p.State is not null) w.Mark();
                Save(w, p.Data, storages);
                w.Bool(true);
                w.Global("collections", "OrderedDict").EmptyTuple().Reduce();
                w.Put();
                if (p.State is null) w.TupleN(3);
                else
                {
                    Save(w, p.State, storages);
                    w.Tuple();
                }
                w.Put();
                w.Reduce();
                w.Put();
                break;
            case FxSubclassTensor st:
                w.Global("torch._tensor", "_rebuild_from_type_v2");
                w.Mark();
                w.Global("torch._utils", "_rebuild_tensor_v2");
                w.Global(st.Module, st.Name);
                w.Mark();
                SavePersistentId(w, st.Inner.Storage, storages);
                w.Int(st.Inner.Offset);
                SaveTuple(w, st.Inner.Shape.Cast<object?>().ToArray(), storages);
                SaveTuple(w, st.Inner.Stride.Cast<object?>().ToArray(), storages);
                w.Bool(false);
                w.Global("collections", "OrderedDict").EmptyTuple().Reduce();
                w.Put();
                w.Tuple();
                w.Put();
                w.EmptyDict();
                w.Put();
                w.Tuple();
                w.Put();
                w.Reduce();
                w.Put();
                break;
            case FxOrderedDict od:
                // OrderedDict.__reduce__: (OrderedDict, (), vars(od) or None, None, iter(items)).
                w.Global("collections", "OrderedDict").EmptyTuple().Reduce();
                w.Put();
                SaveItems(w, od.Select(p => new KeyValuePair<object, object?>(p.Key, p.Value)).ToList(), storages);
                if (od.Metadata is not null)
                {
                    w.EmptyDict();
                    w.Put();
                    w.String("_metadata");
                    Save(w, od.Metadata, storages);
                    w.SetItem();
                    w.Build();
                }
                break;
            case FxDict d:
                w.EmptyDict();
                w.Put();
                SaveItems(w, d, storages);
                break;
            case List<object?> list:
                w.EmptyList();
                w.Put();
                if (list.Count == 1) { Save(w, list[0], storages); w.Append(); }
                else if (list.Count > 1)
                {
                    w.Mark();
                    foreach (var item in list) Save(w, item, storages);
                    w.Appends();
                }
                break;
            case FxTuple t: SaveTuple(w, t.Items, storages); break;
            case FxObject o:
                // copyreg.__reduce_ex__(2) for a plain class: cls.__new__(cls) via NEWOBJ, then BUILD(__dict__).
                w.Global(o.Module, o.Name);
                w.EmptyTuple().NewObj();
                w.Put();
                Save(w, o.State, storages);
                w.Build();
                break;
            case FxCall c:
                if (c.StackGlobal) w.StackGlobal(c.Module, c.Name);
                else w.Global(c.Module, c.Name);
                SaveTuple(w, c.Args, storages);
                w.Reduce();
                w.Put();
                break;
            default: throw new ArgumentException($"cannot pickle {obj.GetType().Name}");
        }
    }

    /// <summary>torch.save's persistent_id: ('storage', torch.FloatStorage, key, 'cpu', numel), keys in order of first use.</summary>
    static void SavePersistentId(PickleWriter w, FxStorage storage, List<(string Key, FxStorage Storage)> storages)
    {
        int index = storages.FindIndex(s => ReferenceEquals(s.Storage, storage));
        if (index < 0)
        {
            index = storages.Count;
            storages.Add((index.ToString(), storage));
        }
        w.Mark();
        w.String("storage");
        w.Global("torch", storage.StorageClass);
        w.String(index.ToString(), memoize: false);
        w.Put();
        w.String("cpu");
        w.Int(storage.Numel);
        w.Tuple();
        w.Put();
        w.BinPersId();
    }

    static void SaveTuple(PickleWriter w, object?[] items, List<(string Key, FxStorage Storage)> storages)
    {
        if (items.Length == 0) { w.EmptyTuple(); return; }
        if (items.Length <= 3)
        {
            foreach (var item in items) Save(w, item, storages);
            w.TupleN(items.Length);
        }
        else
        {
            w.Mark();
            foreach (var item in items) Save(w, item, storages);
            w.Tuple();
        }
        w.Put();
    }

    /// <summary>pickle's _batch_setitems: one item as SETITEM, more as MARK ... SETITEMS in batches of 1000.</summary>
    static void SaveItems(PickleWriter w, List<KeyValuePair<object, object?>> items, List<(string Key, FxStorage Storage)> storages)
    {
        if (items.Count == 1)
        {
            Save(w, items[0].Key, storages);
            Save(w, items[0].Value, storages);
            w.SetItem();
            return;
        }
        for (int start = 0; start < items.Count; start += 1000)
        {
            w.Mark();
            foreach (var (k, v) in items.Skip(start).Take(1000))
            {
                Save(w, k, storages);
                Save(w, v, storages);
            }
            w.SetItems();
        }
    }
}

/// <summary>The torch.save zip layout: &lt;name&gt;/data.pkl, &lt;name&gt;/byteorder, &lt;name&gt;/data/&lt;key&gt;, &lt;name&gt;/version, all stored uncompressed.</summary>
internal static class TorchZip
{
    public static void Write(string path, string archiveName, byte[] pickle, IEnumerable<(string Key, byte[] Data)> storages,
                             string? byteOrder = "little", string version = "3\n")
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        Add(zip, $"{archiveName}/data.pkl", pickle);
        if (byteOrder is not null) Add(zip, $"{archiveName}/byteorder", Encoding.ASCII.GetBytes(byteOrder));
        foreach (var (key, data) in storages) Add(zip, $"{archiveName}/data/{key}", data);
        Add(zip, $"{archiveName}/version", Encoding.ASCII.GetBytes(version));
    }

    public static void Add(ZipArchive zip, string name, byte[] data)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using var s = entry.Open();
        s.Write(data);
    }
}
