// The model manager's library side: the model folders under the configured roots, what each one is (kind, preset,
// size, status, memory it needs), loading confined to those roots, and a memory check before anything is allocated.
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Models;

public enum ModelStatus
{
    /// <summary>model.json is valid and names files that exist: the model can be loaded.</summary>
    Ready,
    /// <summary>Weights but no model.json: run `starstudio models add` (or <see cref="ModelCatalog.Import"/>).</summary>
    NeedsImport,
    /// <summary>model.json exists but is broken or names missing files; <see cref="CatalogEntry.Problem"/> says why.</summary>
    Invalid,
}

/// <summary>One model folder as the model manager lists it.</summary>
/// <param name="Id">The folder's path relative to its root ('/' separators): what <see cref="ModelCatalog.Load"/> takes.</param>
/// <param name="SizeBytes">All files in the folder (weights included, at their stored precision).</param>
/// <param name="Memory">Estimated need for one image with guidance (null unless Ready).</param>
public sealed record CatalogEntry(string Id, string Name, string Folder, string Kind, string? Preset, string? Description,
    long SizeBytes, ModelStatus Status, string? Problem, MemoryEstimate? Memory);

/// <summary>Where loading a model has got to (0..1), for a progress bar.</summary>
public sealed record ModelLoadProgress(double Fraction, string Stage);

public sealed class ModelCatalog
{
    /// <summary>Environment variable with model roots, separated like PATH.</summary>
    public const string RootsVariable = "STARSTUDIO_MODELS";

    readonly string[] _roots;

    /// <param name="roots">Folders that hold model folders; nothing outside them is listed or loaded.</param>
    public ModelCatalog(IEnumerable<string> roots)
    {
        _roots = roots.Where(r => !string.IsNullOrWhiteSpace(r)).Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r))).Distinct().ToArray();
        if (_roots.Length == 0) throw new ArgumentException("Give at least one model root folder.", nameof(roots));
    }

    public IReadOnlyList<string> Roots => _roots;

    /// <summary>
    /// $STARSTUDIO_MODELS, else ./models (relative to the working folder) when it exists, else the folder that holds
    /// the embedded default model: `dotnet run --project StarStudio.Web` runs in the project folder, where ./models
    /// does not exist, and a new user should still see the model they are running.
    /// </summary>
    public static ModelCatalog FromEnvironment()
    {
        if (Environment.GetEnvironmentVariable(RootsVariable) is { Length: > 0 } v) return new(v.Split(Path.PathSeparator));
        var local = Path.Combine(Environment.CurrentDirectory, "models");
        if (!Directory.Exists(local) && ModelStore.DefaultModelFolder() is { } embedded && Path.GetDirectoryName(embedded) is { } parent)
            return new([parent]);
        return new([local]);
    }

    /// <summary>Every model folder: each root that is one itself, and each root's subfolders holding a model.json or weights.</summary>
    public IReadOnlyList<CatalogEntry> List(long? availableBytes = null)
    {
        var entries = new List<CatalogEntry>();
        foreach (var root in _roots)
        {
            if (!Directory.Exists(root)) continue;
            if (LooksLikeModel(root)) entries.Add(Describe(root, root));
            foreach (var dir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
                if (LooksLikeModel(dir)) entries.Add(Describe(root, dir));
        }
        return entries;
    }

    static bool LooksLikeModel(string dir) =>
        File.Exists(Path.Combine(dir, ModelManifest.FileName))
        || Directory.EnumerateFiles(dir).Any(f => Path.GetExtension(f).ToLowerInvariant() is ".pth" or ".pt" or ".safetensors" or ".bin" or ".ckpt");

    static CatalogEntry Describe(string root, string dir)
    {
        string id = Path.GetRelativePath(root, dir).Replace(Path.DirectorySeparatorChar, '/');
        if (id == ".") id = Path.GetFileName(dir);
        long size = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        if (!File.Exists(Path.Combine(dir, ModelManifest.FileName)))
            return new CatalogEntry(id, Path.GetFileName(dir), dir, "", null, null, size, ModelStatus.NeedsImport,
                "No model.json yet: run `starstudio models add` on this folder.", null);
        try
        {
            var manifest = ModelManifest.Load(dir);
            MemoryEstimate? memory = manifest.Kind is ModelKinds.Star or ModelKinds.Var ? MemoryEstimator.ForManifest(manifest, dir) : null;
            return new CatalogEntry(id, manifest.Name, dir, manifest.Kind, manifest.Preset, manifest.Description, size, ModelStatus.Ready, null, memory);
        }
        catch (Exception e) when (e is ModelManifestException or IOException or InvalidDataException or KeyNotFoundException or ArgumentException or System.Text.Json.JsonException)
        {
            return new CatalogEntry(id, Path.GetFileName(dir), dir, "", null, null, size, ModelStatus.Invalid, e.Message, null);
        }
    }

    /// <summary>The folder of a model id (or a path) if it lies inside a root; throws UnauthorizedAccessException otherwise.</summary>
    public string Resolve(string idOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(idOrPath);
        foreach (var root in _roots)
        {
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.IsPathRooted(idOrPath) ? idOrPath : Path.Combine(root, idOrPath)));
            bool inside = full == root || full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            if (inside && Directory.Exists(full))
            {
                // A symbolic link could lead out of the root: check where it really goes.
                var target = new DirectoryInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
                if (target is null || Path.GetFullPath(target).StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return full;
            }
        }
        throw new UnauthorizedAccessException($"'{idOrPath}' is not a model folder inside the configured model roots ({string.Join(", ", _roots)}).");
    }

    /// <summary>Checks an official folder and writes its model.json (see <see cref="OfficialImporter"/>).</summary>
    public ImportReport Import(string idOrPath, ImportOptions? options = null)
    {
        var report = OfficialImporter.Inspect(Resolve(idOrPath), options);
        if (report.Ok) OfficialImporter.WriteManifest(report, options);
        return report;
    }

    /// <summary>
    /// Loads a Ready model after checking that the machine has the memory it needs (throws
    /// <see cref="ModelTooLargeException"/> with the estimate otherwise).
    /// </summary>
    public ScaleWiseModel Load(string idOrPath, Device? device = null, IProgress<ModelLoadProgress>? progress = null, long? availableBytes = null)
    {
        string folder = Resolve(idOrPath);
        progress?.Report(new ModelLoadProgress(0, "Reading model.json"));
        var manifest = ModelManifest.Load(folder);
        device ??= CPU;
        if (device.type == DeviceType.CPU && manifest.Kind is ModelKinds.Star or ModelKinds.Var)
        {
            progress?.Report(new ModelLoadProgress(0.05, "Estimating memory"));
            MemoryEstimator.EnsureFits(MemoryEstimator.ForManifest(manifest, folder), availableBytes ?? MemoryEstimator.AvailableBytes());
        }
        return ModelStore.Load(folder, device, p => progress?.Report(new ModelLoadProgress(0.1 + 0.9 * p.Fraction, p.Stage)));
    }
}
