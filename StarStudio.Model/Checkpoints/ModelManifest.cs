// model.json: the manifest written beside a model's weights. It says what the model is (kind, name),
// how to build it (each component's config as its own JSON object, the scale schedule, the text
// encoder) and which files hold what (role -> path relative to the manifest's folder).
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace StarStudio.Model.Checkpoints;

/// <summary>Well-known model kinds; others are allowed (lower-case identifiers).</summary>
public static class ModelKinds
{
    public const string Star = "star";
    public const string Var = "var";
    public const string VqVae = "vqvae";
}

/// <summary>Well-known roles in <see cref="ModelManifest.Files"/>.</summary>
public static class ModelFileRoles
{
    public const string Transformer = "transformer";
    public const string VqVae = "vqvae";
    public const string TextEncoder = "text_encoder";
    public const string Sampler = "sampler";
}

/// <summary>The text encoder a text-to-image model conditions on.</summary>
public sealed record TextEncoderManifest
{
    /// <summary>e.g. "clip": the encoder family the loader builds.</summary>
    public required string Kind { get; init; }
    /// <summary>Tokenizer vocabulary (vocab.json), relative to the manifest's folder.</summary>
    public string? VocabularyFile { get; init; }
    /// <summary>BPE merges (merges.txt), relative to the manifest's folder.</summary>
    public string? MergesFile { get; init; }
    /// <summary>Token budget of a prompt, including start and end tokens (77 for CLIP).</summary>
    public int MaxTokens { get; init; }
    /// <summary>Width of the hidden states the transformer attends to (1024 for OpenCLIP ViT-H/14).</summary>
    public int Dim { get; init; }
}

public sealed class ModelManifest
{
    public const string FileName = "model.json";
    public const int CurrentFormatVersion = 1;

    /// <summary>snake_case names, like the reference's Python arguments; indented for people reading the file.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        MaxDepth = 64,
    };

    public int FormatVersion { get; set; } = CurrentFormatVersion;
    /// <summary>"star", "var", "vqvae" (see <see cref="ModelKinds"/>).</summary>
    public string Kind { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Description { get; set; }
    /// <summary>Component name -> its config record as JSON (each component reads its own type).</summary>
    public Dictionary<string, JsonElement> Components { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Side length in tokens of each scale, smallest first (e.g. 1, 2, 3, 4, 5, 6, 8, 10, 13, 16).</summary>
    public int[]? PatchNums { get; set; }
    public TextEncoderManifest? TextEncoder { get; set; }
    /// <summary>
    /// The settings this model samples best with (cfg, top-k, top-p, more-smooth, stable sampling); the app's
    /// playground and the CLI start from them. Absent: an official preset's defaults, else StarStudio's general ones.
    /// </summary>
    public Presets.SamplingDefaults? Sampling { get; set; }
    /// <summary>The official preset the weights were checked against (e.g. "star-d30-1024-sampler"), when imported.</summary>
    public string? Preset { get; set; }
    /// <summary>Role -> where the state dict sits inside its file ("trainer/var_wo_ddp" for STAR trainer checkpoints;
    /// for safetensors a dotted key prefix). Absent roles use the file's root (or auto-detection for torch.save files).</summary>
    public Dictionary<string, string>? KeyPaths { get; set; }
    /// <summary>Role -> file path relative to the manifest's folder, with '/' separators.</summary>
    public Dictionary<string, string> Files { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Stores a component's config record (serialised with <see cref="JsonOptions"/> unless others are given).</summary>
    public void SetComponent<T>(string name, T config, JsonSerializerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Components[name] = JsonSerializer.SerializeToElement(config, options ?? JsonOptions);
    }

    /// <summary>Reads a component's config record back.</summary>
    public T GetComponent<T>(string name, JsonSerializerOptions? options = null)
    {
        if (!Components.TryGetValue(name, out var element))
            throw new KeyNotFoundException($"The manifest of '{Name}' has no component '{name}' (it has: {string.Join(", ", Components.Keys)}).");
        return element.Deserialize<T>(options ?? JsonOptions)
               ?? throw new JsonException($"Component '{name}' of '{Name}' is null.");
    }

    /// <summary>Full path of a role's file in the model folder.</summary>
    public string ResolveFile(string folder, string role)
    {
        if (!Files.TryGetValue(role, out var relative))
            throw new KeyNotFoundException($"The manifest of '{Name}' has no file for role '{role}' (it has: {string.Join(", ", Files.Keys)}).");
        return Resolve(folder, relative);
    }

    /// <summary>Writes folder/model.json (creating the folder), after validating everything but file existence.</summary>
    public string Save(string folder)
    {
        string path = Path.Combine(folder, FileName);
        var problems = Validate(folder, checkFiles: false);
        if (problems.Count > 0) throw new ModelManifestException(path, "cannot be written: " + string.Join(" ", problems));
        Directory.CreateDirectory(folder);
        string temp = path + ".partial";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, JsonOptions) + "\n");
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>Reads and validates a manifest: a model.json path or the folder holding it. With checkFiles, every
    /// file the manifest names must exist in the folder.</summary>
    public static ModelManifest Load(string pathOrFolder, bool checkFiles = true)
    {
        string path = Directory.Exists(pathOrFolder) ? Path.Combine(pathOrFolder, FileName) : pathOrFolder;
        if (!File.Exists(path)) throw new ModelManifestException(path, "not found.");
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;

        ModelManifest? manifest;
        try
        {
            using var stream = File.OpenRead(path);
            if (stream.Length > 16 * 1024 * 1024) throw new ModelManifestException(path, "is larger than 16 MiB: not a manifest.");
            using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            // The version decides how the rest is read, so it is checked before anything else.
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelManifestException(path, "is not a JSON object.");
            if (!doc.RootElement.TryGetProperty("format_version", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int version))
                throw new ModelManifestException(path, "has no integer 'format_version'.");
            if (version != CurrentFormatVersion)
                throw new ModelManifestException(path, version > CurrentFormatVersion
                    ? $"has format version {version}, newer than this StarStudio understands ({CurrentFormatVersion}); update StarStudio."
                    : $"has unknown format version {version} (expected {CurrentFormatVersion}).");
            manifest = doc.RootElement.Deserialize<ModelManifest>(JsonOptions);
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is { } line ? $" (line {line + 1})" : "";
            throw new ModelManifestException(path, $"is not a valid manifest{where}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelManifestException(path, $"cannot be read: {e.Message}", e);
        }
        if (manifest is null) throw new ModelManifestException(path, "is null.");

        var problems = manifest.Validate(folder, checkFiles);
        if (problems.Count > 0) throw new ModelManifestException(path, string.Join(" ", problems));
        return manifest;
    }

    static readonly Regex KindPattern = new("^[a-z][a-z0-9_-]*$", RegexOptions.CultureInvariant);

    /// <summary>Every problem, each a sentence; empty when the manifest is valid.</summary>
    public List<string> Validate(string folder, bool checkFiles)
    {
        var problems = new List<string>();
        if (FormatVersion != CurrentFormatVersion) problems.Add($"format_version is {FormatVersion}, expected {CurrentFormatVersion}.");
        if (!KindPattern.IsMatch(Kind ?? "")) problems.Add($"kind '{Kind}' is not a lower-case identifier such as \"star\", \"var\" or \"vqvae\".");
        if (string.IsNullOrWhiteSpace(Name)) problems.Add("name is empty.");
        if (Sampling is { } d && (!(d.Cfg is >= 0 and <= Generation.GenerationValidator.MaxCfg) || d.TopK < 0 || !(d.TopP is >= 0 and <= 1)))
            problems.Add($"sampling: cfg must lie in [0, {Generation.GenerationValidator.MaxCfg}], top_k >= 0 and top_p in [0, 1] (got cfg {d.Cfg}, top_k {d.TopK}, top_p {d.TopP}).");
        if (Components is null) problems.Add("components is null.");
        else
            foreach (var (name, element) in Components)
                if (element.ValueKind != JsonValueKind.Object) problems.Add($"component '{name}' is a JSON {element.ValueKind}, not an object.");
        if (PatchNums is not null)
        {
            if (PatchNums.Length == 0) problems.Add("patch_nums is empty.");
            else if (PatchNums[0] < 1 || PatchNums.Zip(PatchNums.Skip(1)).Any(p => p.Second <= p.First))
                problems.Add($"patch_nums [{string.Join(", ", PatchNums)}] must be positive and strictly increasing.");
        }
        var files = new List<(string What, string Path)>();
        if (Files is null) problems.Add("files is null.");
        else files.AddRange(Files.Select(f => ($"files['{f.Key}']", f.Value)));
        if (TextEncoder is { } te)
        {
            if (string.IsNullOrWhiteSpace(te.Kind)) problems.Add("text_encoder.kind is empty.");
            if (te.MaxTokens < 1) problems.Add($"text_encoder.max_tokens is {te.MaxTokens}; it must be positive.");
            if (te.Dim < 1) problems.Add($"text_encoder.dim is {te.Dim}; it must be positive.");
            if (te.VocabularyFile is not null) files.Add(("text_encoder.vocabulary_file", te.VocabularyFile));
            if (te.MergesFile is not null) files.Add(("text_encoder.merges_file", te.MergesFile));
        }
        foreach (var (what, relative) in files)
        {
            if (RelativePathProblem(relative) is { } problem)
            {
                problems.Add($"{what} = '{relative}' {problem}");
                continue;
            }
            if (!checkFiles) continue;
            string full = Resolve(folder, relative);
            if (Directory.Exists(full)) problems.Add($"{what} = '{relative}' is a folder, not a file.");
            else if (!File.Exists(full)) problems.Add($"{what} = '{relative}' does not exist in {folder}.");
        }
        return problems;
    }

    /// <summary>Why a manifest path is not allowed, or null. Paths stay inside the model folder and are portable.</summary>
    static string? RelativePathProblem(string? relative)
    {
        if (string.IsNullOrWhiteSpace(relative)) return "is empty.";
        if (relative.Contains('\\')) return "uses '\\'; manifest paths use '/' so they work on every OS.";
        if (relative.StartsWith('/') || Path.IsPathRooted(relative) || (relative.Length >= 2 && relative[1] == ':'))
            return "is absolute; manifest paths are relative to the manifest's folder.";
        if (relative.Split('/').Any(s => s is ".." or "")) return "leaves the model folder or has an empty segment ('..' and '//' are not allowed).";
        if (relative.Any(char.IsControl)) return "contains control characters.";
        return null;
    }

    static string Resolve(string folder, string relative)
    {
        if (RelativePathProblem(relative) is { } problem) throw new ArgumentException($"'{relative}' {problem}", nameof(relative));
        string root = Path.GetFullPath(folder);
        string full = Path.GetFullPath(Path.Combine(root, relative));
        if (!full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"'{relative}' resolves outside {root}.", nameof(relative));
        return full;
    }
}
