// Reads PyTorch checkpoints as torch.save (PyTorch >= 1.6) writes them: a zip archive
// <name>/data.pkl (protocol 2 pickle), <name>/data/<key> (raw storage bytes), <name>/version,
// <name>/byteorder. The pickle is read with RestrictedUnpickler; tensors stay descriptors (PthTensor)
// until asked for, so extracting one part of a large trainer checkpoint reads only that part's storages.
using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace StarStudio.Model.Checkpoints;

/// <summary>A storage the pickle refers to: archive entry data/&lt;Key&gt; holding Numel elements of DType.</summary>
public sealed class PthStorage
{
    internal PthStorage(PthFile owner, string key, CheckpointDType dtype, long numel, string location)
    {
        Owner = owner;
        Key = key;
        DType = dtype;
        Numel = numel;
        Location = location;
    }

    internal PthFile Owner { get; }
    public string Key { get; }
    public CheckpointDType DType { get; }
    public long Numel { get; }
    /// <summary>Where it lived when saved ("cpu", "cuda:0"); StarStudio always loads to the CPU.</summary>
    public string Location { get; }
    public long ByteSize => Numel * DType.Size;
}

/// <summary>A tensor in a .pth pickle: a strided view of a storage. <see cref="ToTensor"/> reads it.</summary>
public sealed class PthTensor
{
    internal PthTensor(PthStorage storage, long offset, long[] shape, long[] stride)
    {
        Storage = storage;
        Offset = offset;
        Shape = shape;
        Stride = stride;
    }

    public PthStorage Storage { get; }
    /// <summary>Offset into the storage, in elements.</summary>
    public long Offset { get; }
    public long[] Shape { get; }
    public long[] Stride { get; }
    public bool RequiresGrad { get; internal set; }
    /// <summary>Saved as a torch.nn.Parameter rather than a plain tensor.</summary>
    public bool IsParameter { get; internal set; }
    public CheckpointDType DType => Storage.DType;
    public long Numel => TensorBytes.Numel(Shape) ?? 0;
    public long ByteSize => Numel * DType.Size;

    /// <summary>A new CPU tensor viewing this tensor's storage (shared with other views of it, as in torch.load).
    /// The storage is read from the file the first time any tensor needs it.</summary>
    public Tensor ToTensor() => Storage.Owner.ReadTensor(this);

    public override string ToString() => $"tensor {TensorBytes.FormatShape(Shape)} {DType}";
}

/// <summary>An open torch.save checkpoint. Dispose it when done; tensors already made stay valid.</summary>
public sealed class PthFile : IDisposable
{
    /// <summary>A larger data.pkl is not a checkpoint (real ones are a few MB even for billions of parameters).</summary>
    public const long MaxPickleBytes = 512L * 1024 * 1024;
    /// <summary>Deflate cannot expand data more than about 1032 times; a larger declared ratio is a lie.</summary>
    const long MaxDeflateRatio = 1032;

    static readonly byte[] ZipMagic = "PK\x03\x04"u8.ToArray();
    // Legacy torch.save starts with pickle PROTO 2 followed by LONG1 of the magic number 0x1950a86a20f9469cfc6c.
    static readonly byte[] LegacyMagic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    readonly FileStream _stream;
    readonly ZipArchive _zip;
    string _prefix = "";
    readonly long _fileLength;
    readonly Dictionary<string, PthStorage> _storages = new(StringComparer.Ordinal);
    readonly Dictionary<string, Tensor> _loaded = new(StringComparer.Ordinal);
    readonly Lock _gate = new();
    bool _disposed;

    PthFile(string path, FileStream stream, ZipArchive zip)
    {
        Path = path;
        _stream = stream;
        _zip = zip;
        _fileLength = stream.Length;
    }

    public string Path { get; }
    /// <summary>The archive's top folder (torch.save uses the file's stem or "archive").</summary>
    public string ArchiveName => _prefix.TrimEnd('/');
    /// <summary>The unpickled object tree (see PickleObjects.cs for how Python values map).</summary>
    public object? Root { get; private set; }
    /// <summary>Contents of the archive's version record, if present.</summary>
    public string? FormatVersion { get; private set; }
    public bool BigEndian { get; private set; }
    /// <summary>Every global the pickle named.</summary>
    public IReadOnlyList<PickleGlobal> Globals { get; private set; } = [];
    public IReadOnlyCollection<PthStorage> Storages => _storages.Values;

    /// <summary>Opens a torch.save zip checkpoint and unpickles its object tree (tensor data is read on demand).</summary>
    public static PthFile Load(string path)
    {
        var stream = CheckpointIO.OpenRead(path);
        PthFile? file = null;
        try
        {
            CheckLeadingBytes(stream, path);
            ZipArchive zip;
            try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException)
            {
                throw new CheckpointFormatException(path, $"is not a readable zip archive (truncated or corrupt): {e.Message}", e);
            }
            file = new PthFile(path, stream, zip);
            file.ReadPickle();
            return file;
        }
        catch
        {
            if (file is not null) file.Dispose();
            else stream.Dispose();
            throw;
        }
    }

    static void CheckLeadingBytes(FileStream stream, string path)
    {
        Span<byte> head = stackalloc byte[LegacyMagic.Length];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        head = head[..n];
        if (head.StartsWith(ZipMagic)) return;
        if (head.SequenceEqual(LegacyMagic))
            throw new CheckpointFormatException(path, "is a legacy (pre-1.6, non-zip) torch.save file, which StarStudio does not read. " +
                "Convert it once with Python: torch.save(torch.load(p, map_location='cpu', weights_only=True), p2) " +
                "writes the zip format; safetensors.torch.save_file writes StarStudio's preferred format.");
        if (n == 0) throw new CheckpointFormatException(path, "is empty.");
        if (head[0] == 0x80)
            throw new CheckpointFormatException(path, "is a bare pickle, not a torch.save zip archive; re-save it with torch.save or as safetensors.");
        throw new CheckpointFormatException(path, $"is not a PyTorch checkpoint (it starts with bytes {Convert.ToHexString(head[..Math.Min(n, 4)])}, not a zip header).");
    }

    static string FindPrefix(ZipArchive zip, string path)
    {
        List<string> names;
        try { names = zip.Entries.Select(e => e.FullName).ToList(); }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new CheckpointFormatException(path, $"zip directory is corrupt: {e.Message}", e);
        }
        var pickles = names.Where(n => n == "data.pkl" || (n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.Count(c => c == '/') == 1)).ToList();
        if (pickles.Count == 1) return pickles[0][..^"data.pkl".Length];
        if (pickles.Count > 1)
            throw new CheckpointFormatException(path, $"holds {pickles.Count} data.pkl records ({string.Join(", ", pickles)}); a torch.save archive has one.");
        if (names.Any(n => n.EndsWith("constants.pkl", StringComparison.Ordinal) || n.Contains("/code/", StringComparison.Ordinal)))
            throw new CheckpointFormatException(path, "is a TorchScript archive (torch.jit.save), which holds code; save the model's state_dict with torch.save or safetensors instead.");
        throw new CheckpointFormatException(path, "is a zip archive without a <name>/data.pkl record: not a torch.save checkpoint.");
    }

    void ReadPickle()
    {
        _prefix = FindPrefix(_zip, Path);
        FormatVersion = ReadSmallText("version");
        string? order = ReadSmallText("byteorder");
        BigEndian = order switch
        {
            null or "little" => false,
            "big" => true,
            _ => throw new CheckpointFormatException(Path, $"byteorder record says '{order}', expected 'little' or 'big'."),
        };
        var entry = _zip.GetEntry(_prefix + "data.pkl")!;
        CheckEntrySize(entry, MaxPickleBytes);
        var bytes = new byte[entry.Length];
        ReadEntry(entry, bytes);
        var unpickler = new RestrictedUnpickler(bytes, Path, new TorchPickleHost(this));
        Root = unpickler.Load();
        Globals = unpickler.GlobalsSeen;
    }

    string? ReadSmallText(string name)
    {
        var entry = _zip.GetEntry(_prefix + name);
        if (entry is null) return null;
        CheckEntrySize(entry, 64);
        var bytes = new byte[entry.Length];
        ReadEntry(entry, bytes);
        return Encoding.ASCII.GetString(bytes).Trim();
    }

    void CheckEntrySize(ZipArchiveEntry entry, long max)
    {
        if (entry.Length > max)
            throw new CheckpointFormatException(Path, $"record '{entry.FullName}' claims {entry.Length} bytes, more than the {max} a checkpoint's record can hold.");
        if (entry.CompressedLength > _fileLength || entry.Length > Math.Max(entry.CompressedLength, 1) * MaxDeflateRatio)
            throw new CheckpointFormatException(Path, $"record '{entry.FullName}' declares sizes its {_fileLength}-byte archive cannot hold (corrupt, or a zip bomb).");
    }

    void ReadEntry(ZipArchiveEntry entry, Span<byte> destination)
    {
        try
        {
            using var s = entry.Open();
            s.ReadExactly(destination);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or EndOfStreamException)
        {
            throw new CheckpointFormatException(Path, $"record '{entry.FullName}' cannot be read (truncated or corrupt): {e.Message}", e);
        }
    }

    internal PthStorage GetOrAddStorage(string key, CheckpointDType dtype, long numel, string location)
    {
        if (_storages.TryGetValue(key, out var existing))
        {
            if (existing.DType != dtype || existing.Numel != numel)
                throw new CheckpointFormatException(Path, $"storage '{key}' is referenced as {existing.Numel} x {existing.DType} and as {numel} x {dtype}; views of one storage with two types are not supported.");
            return existing;
        }
        if (numel < 0 || TensorBytes.ByteSize(numel, dtype.Size) is null)
            throw new CheckpointFormatException(Path, $"storage '{key}' declares an impossible size of {numel} elements.");
        var storage = new PthStorage(this, key, dtype, numel, location);
        _storages[key] = storage;
        return storage;
    }

    internal Tensor ReadTensor(PthTensor t)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var flat = LoadStorage(t.Storage);
            return flat.as_strided(t.Shape, t.Stride, t.Offset);
        }
    }

    /// <summary>Reads a storage once; later tensors on it share the same memory.</summary>
    Tensor LoadStorage(PthStorage storage)
    {
        if (_loaded.TryGetValue(storage.Key, out var cached)) return cached;
        string name = _prefix + "data/" + storage.Key;
        ZipArchiveEntry? entry;
        try { entry = _zip.GetEntry(name); }
        catch (InvalidDataException e) { throw new CheckpointFormatException(Path, $"zip directory is corrupt: {e.Message}", e); }
        if (entry is null)
            throw new CheckpointFormatException(Path, $"storage record '{name}' named by the pickle is missing from the archive (truncated or corrupt).");
        long needed = storage.ByteSize;
        if (needed > entry.Length)
            throw new CheckpointFormatException(Path, $"storage '{name}' declares {storage.Numel} x {storage.DType} = {needed} bytes but its archive record holds only {entry.Length} (corrupt or hostile).");
        CheckEntrySize(entry, long.MaxValue);

        Stream? s = null;
        try
        {
            s = entry.Open();
            var flat = TensorBytes.ReadFlat(storage.DType, storage.Numel, span => s.ReadExactly(span), BigEndian);
            if (storage.DType.Type == ScalarType.Bool && !TensorBytes.BoolBytesAreValid(flat))
            {
                flat.Dispose();
                throw new CheckpointFormatException(Path, $"bool storage '{name}' holds bytes other than 0 and 1.");
            }
            // The cache outlives any dispose scope of the caller; this file disposes it.
            flat.DetachFromDisposeScope();
            _loaded[storage.Key] = flat;
            return flat;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or EndOfStreamException)
        {
            throw new CheckpointFormatException(Path, $"storage record '{name}' cannot be read (truncated or corrupt): {e.Message}", e);
        }
        finally
        {
            s?.Dispose();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var t in _loaded.Values) t.Dispose();
            _loaded.Clear();
            _zip.Dispose();
            _stream.Dispose();
        }
    }
}
