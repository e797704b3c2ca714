// Moves raw little-endian element bytes between files and TorchSharp tensor memory without staging copies.
// Tensor.bytes exposes at most int.MaxValue bytes, so large tensors go through 1 GiB views.
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Checkpoints;

/// <summary>Receives one span of tensor memory (to fill or to read).</summary>
internal delegate void SpanAction(Span<byte> span);

internal static class TensorBytes
{
    const long ChunkBytes = 1L << 30;

    /// <summary>Product of a shape, or null when a dimension is negative or the product overflows.</summary>
    public static long? Numel(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) return null;
            try { n = checked(n * d); }
            catch (OverflowException) { return null; }
        }
        return n;
    }

    /// <summary>numel * elementSize, or null on overflow.</summary>
    public static long? ByteSize(long numel, int elementSize)
    {
        try { return checked(numel * elementSize); }
        catch (OverflowException) { return null; }
    }

    public static string FormatShape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>
    /// A new 1-D CPU tensor of numel elements whose bytes come from read (called with successive spans to fill
    /// exactly). Byte order is swapped when the source is big-endian.
    /// </summary>
    public static Tensor ReadFlat(CheckpointDType dtype, long numel, SpanAction readExactly, bool bigEndian = false)
    {
        var flat = empty(numel, dtype.Type, device: CPU);
        try
        {
            ForEachChunk(flat, dtype.Size, span =>
            {
                readExactly(span);
                if (bigEndian && dtype.Size > 1) SwapInPlace(span, dtype.Size);
            });
            return flat;
        }
        catch
        {
            flat.Dispose();
            throw;
        }
    }

    /// <summary>Writes a tensor's elements in row-major order, little-endian, as safetensors and torch.save store them.</summary>
    public static void Write(Tensor tensor, Stream stream)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Checkpoint writing needs a little-endian machine.");
        using var scope = NewDisposeScope();
        var flat = tensor.detach().to(CPU).contiguous().reshape(-1);
        ForEachChunk(flat, (int)flat.ElementSize, span => stream.Write(span));
    }

    /// <summary>True when every byte of a bool tensor is 0 or 1 (other values are undefined behaviour in libtorch).</summary>
    public static bool BoolBytesAreValid(Tensor flat)
    {
        bool ok = true;
        ForEachChunk(flat, 1, span =>
        {
            if (ok && span.IndexOfAnyExcept((byte)0, (byte)1) >= 0) ok = false;
        });
        return ok;
    }

    static void ForEachChunk(Tensor flat, int elementSize, SpanAction action)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Checkpoint IO needs a little-endian machine.");
        long numel = flat.NumberOfElements;
        long perChunk = ChunkBytes / elementSize;
        for (long start = 0; start < numel; start += perChunk)
        {
            long count = Math.Min(perChunk, numel - start);
            using var view = flat.narrow(0, start, count);
            action(view.bytes);
        }
    }

    static void SwapInPlace(Span<byte> span, int size)
    {
        for (int i = 0; i + size <= span.Length; i += size) span.Slice(i, size).Reverse();
    }
}
