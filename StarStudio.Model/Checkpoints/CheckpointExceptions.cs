// Exceptions of checkpoint IO. Every one names the file it is about, so a user with several
// checkpoints knows which one to fix; catch CheckpointException to handle them all.
namespace StarStudio.Model.Checkpoints;

/// <summary>Base of every error raised while reading, writing or applying a checkpoint.</summary>
public abstract class CheckpointException : Exception
{
    protected CheckpointException(string message, string? filePath, Exception? inner = null)
        : base(message, inner) => FilePath = filePath;

    /// <summary>The file the error is about, or null when it concerns tensors already in memory.</summary>
    public string? FilePath { get; }
}

/// <summary>The file is missing, unreadable, truncated, corrupt or not in a format StarStudio reads.</summary>
public sealed class CheckpointFormatException : CheckpointException
{
    public CheckpointFormatException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", filePath, inner) => Problem = problem;

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}

/// <summary>
/// A pickle names a Python global that exists to run code or touch the system (os.system, builtins.eval, ...).
/// Nothing in the file is ever executed; the file is refused because no honest checkpoint needs such a global.
/// </summary>
public sealed class UnsafeCheckpointException : CheckpointException
{
    public UnsafeCheckpointException(string filePath, string global, string reason)
        : base($"{filePath}: refused to load: the pickle references the Python global '{global}' ({reason}). " +
               "A plain checkpoint never needs it, and loading this file with Python's torch.load(weights_only=False) " +
               "would run it. StarStudio executed nothing. If you trust the file's author, re-save only the weights " +
               "(e.g. as safetensors) in an isolated Python environment.", filePath)
        => Global = global;

    /// <summary>The refused global as module.name.</summary>
    public string Global { get; }
}

/// <summary>The file is well formed but does not hold what was asked for (a key path, a state dict of tensors).</summary>
public sealed class CheckpointContentException : CheckpointException
{
    public CheckpointContentException(string? filePath, string problem)
        : base(filePath is null ? problem : $"{filePath}: {problem}", filePath) { }
}

/// <summary>A strict load found missing, unexpected or mis-shaped keys; <see cref="Report"/> lists them all.</summary>
public sealed class CheckpointMismatchException : CheckpointException
{
    public CheckpointMismatchException(StateDictLoadReport report, string? filePath = null)
        : base(report.Describe(filePath), filePath) => Report = report;

    public StateDictLoadReport Report { get; }
}

/// <summary>A model.json manifest is malformed, of an unknown version, or names files it may not.</summary>
public sealed class ModelManifestException : CheckpointException
{
    public ModelManifestException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", filePath, inner) { }
}
