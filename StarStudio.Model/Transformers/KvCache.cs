// Explicit key/value cache for scale-by-scale inference. The reference keeps cached_k/cached_v on each Attention module
// and toggles kv_caching around generation; here the cache is an object owned by one generation run.
// Shapes: N rows, H heads, Lc tokens cached so far, T text tokens, c head dim.
using static TorchSharp.torch;

namespace StarStudio.Model.Transformers;

/// <summary>
/// Per-block self-attention K and V ([N,H,Lc,c], RoPE and L2 norm already applied), appended one scale at a time, and
/// per-block cross-attention K and V of the text ([N,H,T,c]), computed on first use because the text never changes
/// during a run. Its tensors are detached from every dispose scope, so they survive the caller's per-scale scopes; they
/// are freed by <see cref="Dispose"/>.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor?[] _k, _v, _crossK, _crossV;
    readonly long[] _blockLength;
    Tensor? _crossSource;
    bool _disposed;

    public KvCache(int depth)
    {
        if (depth < 1) throw new ArgumentException($"depth must be >= 1, got {depth}.", nameof(depth));
        Depth = depth;
        _k = new Tensor?[depth];
        _v = new Tensor?[depth];
        _crossK = new Tensor?[depth];
        _crossV = new Tensor?[depth];
        _blockLength = new long[depth];
    }

    /// <summary>Number of blocks the cache serves.</summary>
    public int Depth { get; }
    /// <summary>Tokens cached in every block (the scales committed so far).</summary>
    public long Length { get; private set; }
    /// <summary>Scales committed so far.</summary>
    public int ScalesCached { get; private set; }
    /// <summary>Rows N of the cached tensors, or null while empty.</summary>
    public long? Rows { get; private set; }
    public bool IsDisposed => _disposed;
    /// <summary>Live tensors the cache owns (for leak accounting).</summary>
    public int TensorCount => _k.Concat(_v).Concat(_crossK).Concat(_crossV).Count(t => t is not null);

    /// <summary>
    /// Appends this scale's k, v [N,H,l,c] to block's cache and returns the whole cached K, V [N,H,Lc+l,c]. The returned
    /// tensors belong to the cache: callers must not dispose them.
    /// </summary>
    internal (Tensor K, Tensor V) AppendSelf(int block, Tensor k, Tensor v)
    {
        ThrowIfDisposed();
        CheckRows(k);
        if (_blockLength[block] != Length)
            throw new InvalidOperationException($"Block {block} already holds {_blockLength[block]} tokens while the cache commits {Length}: a scale was appended twice or a run was interleaved.");
        Tensor newK, newV;
        if (_k[block] is null)
        {
            newK = k.contiguous();
            newV = v.contiguous();
            // contiguous() may return a new handle on the same storage; either way the new handle is ours.
        }
        else
        {
            newK = cat([_k[block]!, k], dim: 2);
            newV = cat([_v[block]!, v], dim: 2);
            _k[block]!.Dispose();
            _v[block]!.Dispose();
        }
        _k[block] = newK.DetachFromDisposeScope();
        _v[block] = newV.DetachFromDisposeScope();
        _blockLength[block] = newK.shape[2];
        return (newK, newV);
    }

    /// <summary>
    /// The cross-attention K, V of block for the text source, computed by compute on first use. The source must be the same
    /// tensor for the whole run (cached values would otherwise be stale). The returned tensors belong to the cache.
    /// </summary>
    internal (Tensor K, Tensor V) CrossKV(int block, Tensor source, Func<(Tensor K, Tensor V)> compute)
    {
        ThrowIfDisposed();
        if (_crossSource is null) _crossSource = source;
        else if (!ReferenceEquals(_crossSource, source))
            throw new InvalidOperationException("The text conditioning changed during a run: its cross-attention keys/values are cached; start a new KvCache.");
        if (_crossK[block] is null)
        {
            var (k, v) = compute();
            CheckRows(k);
            _crossK[block] = k.contiguous().DetachFromDisposeScope();
            _crossV[block] = v.contiguous().DetachFromDisposeScope();
        }
        return (_crossK[block]!, _crossV[block]!);
    }

    /// <summary>Marks one scale of l tokens as appended by every block.</summary>
    internal void CommitScale(long l)
    {
        ThrowIfDisposed();
        for (int b = 0; b < Depth; b++)
            if (_blockLength[b] != Length + l)
                throw new InvalidOperationException($"Block {b} holds {_blockLength[b]} tokens, expected {Length + l} after this scale.");
        Length += l;
        ScalesCached++;
    }

    void CheckRows(Tensor t)
    {
        if (Rows is null) Rows = t.shape[0];
        else if (Rows != t.shape[0]) throw new ArgumentException($"The cache holds {Rows} rows; this scale has {t.shape[0]}.");
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var arr in new[] { _k, _v, _crossK, _crossV })
            for (int i = 0; i < arr.Length; i++)
            {
                arr[i]?.Dispose();
                arr[i] = null;
            }
        _crossSource = null;
    }
}
