// `starstudio convert`: rewrites torch.save weights (.pth, .bin) as safetensors, StarStudio's format of record. Loading
// safetensors needs no unpickler and maps the data directly, so the next load is faster and cannot run code.
using StarStudio.Model.Checkpoints;

namespace StarStudio.Model.Models;

/// <summary>One file converted: where from, where to, how many tensors.</summary>
public sealed record ConvertedFile(string Source, string Target, int Tensors, long Bytes);

public static class ModelConverter
{
    /// <summary>
    /// Converts one checkpoint file. keyPath selects the state dict inside a torch.save object tree (null: auto-detect,
    /// e.g. trainer/var_wo_ddp); only that state dict is written (optimizer state and training arguments are dropped).
    /// </summary>
    public static ConvertedFile ConvertFile(string source, string target, IReadOnlyList<string>? keyPath = null)
    {
        if (Path.GetFullPath(source) == Path.GetFullPath(target)) throw new ArgumentException($"Source and target are the same file: {source}.");
        using var sd = CheckpointFile.ReadStateDict(source, keyPath);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["source"] = Path.GetFileName(source),
            ["source_key_path"] = sd.Source,
        };
        string temp = target + ".partial";
        SafetensorsWriter.Write(temp, sd, metadata);
        File.Move(temp, target, overwrite: true);
        return new ConvertedFile(source, target, sd.Count, new FileInfo(target).Length);
    }

    /// <summary>
    /// Converts every torch.save file a model folder's manifest names to safetensors beside it (transformer.safetensors,
    /// vqvae.safetensors, text_encoder/model.safetensors) and points model.json at them. The originals stay; the
    /// manifest's key paths are dropped because the new files hold the bare state dicts.
    /// </summary>
    public static IReadOnlyList<ConvertedFile> ConvertFolder(string folder)
    {
        var manifest = ModelManifest.Load(folder);
        folder = Path.GetDirectoryName(Path.GetFullPath(Path.Combine(folder, ModelManifest.FileName)))!;
        var done = new List<ConvertedFile>();
        foreach (var (role, relative) in manifest.Files.ToList())
        {
            string source = manifest.ResolveFile(folder, role);
            if (CheckpointFile.DetectFormat(source) == CheckpointFormat.Safetensors) continue;
            string? keyPath = manifest.KeyPaths is { } kp && kp.TryGetValue(role, out var p) ? p : null;
            // A Hugging Face folder keeps its weights beside config.json under the name transformers looks for.
            string targetRelative = role == ModelFileRoles.TextEncoder
                ? CombineRelative(Path.GetDirectoryName(relative.Replace('/', Path.DirectorySeparatorChar)), "model.safetensors")
                : role + ".safetensors";
            string target = Path.Combine(folder, targetRelative.Replace('/', Path.DirectorySeparatorChar));
            done.Add(ConvertFile(source, target, keyPath?.Split('/')));
            manifest.Files[role] = targetRelative;
            manifest.KeyPaths?.Remove(role);
        }
        if (manifest.KeyPaths is { Count: 0 }) manifest.KeyPaths = null;
        manifest.Save(folder);
        return done;
    }

    static string CombineRelative(string? dir, string name) =>
        string.IsNullOrEmpty(dir) ? name : dir.Replace(Path.DirectorySeparatorChar, '/') + "/" + name;
}
