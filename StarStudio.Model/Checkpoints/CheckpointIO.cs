// File-opening helpers shared by the checkpoint readers: every OS-level failure becomes a
// CheckpointFormatException that names the file, so callers handle one exception type.
using Microsoft.Win32.SafeHandles;

namespace StarStudio.Model.Checkpoints;

internal static class CheckpointIO
{
    /// <summary>Opens an existing regular file for reading, or throws a CheckpointFormatException saying why not.</summary>
    public static FileStream OpenRead(string path, int bufferSize = 1 << 16)
    {
        CheckIsFile(path);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(path, $"cannot be opened: {e.Message}", e);
        }
    }

    public static SafeFileHandle OpenHandle(string path)
    {
        CheckIsFile(path);
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(path, $"cannot be opened: {e.Message}", e);
        }
    }

    public static void CheckIsFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new CheckpointFormatException(path, "is a directory, not a checkpoint file.");
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "file not found.");
    }

    /// <summary>Fills span from offset, or throws when the file ends first (it was truncated or changed underneath).</summary>
    public static void ReadExactly(SafeFileHandle handle, Span<byte> span, long offset, string path)
    {
        while (!span.IsEmpty)
        {
            int n;
            try { n = RandomAccess.Read(handle, span, offset); }
            catch (IOException e) { throw new CheckpointFormatException(path, $"read failed at byte {offset}: {e.Message}", e); }
            if (n == 0) throw new CheckpointFormatException(path, $"ends early: expected more data at byte {offset}.");
            span = span[n..];
            offset += n;
        }
    }
}
