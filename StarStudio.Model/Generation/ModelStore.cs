using System.Text.Json;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Models;
using StarStudio.Model.Text;
using StarStudio.Model.Text.Clip;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Generation;

/// <summary>
/// StarStudio's model folders: model.json (kind, component configs, scale schedule, text encoder, files) beside
/// safetensors weights. Loading is strict: every missing, unexpected or mis-shaped tensor is reported.
/// </summary>
public static class ModelStore
{
    const string TransformerFile = "transformer.safetensors";
    const string VaeFile = "vqvae.safetensors";
    const string TextFile = "text_encoder.safetensors";
    const string VocabFile = "vocab.json";

    /// <summary>Environment variable naming the default model folder (overrides the embedded model).</summary>
    public const string DefaultModelVariable = "STARSTUDIO_MODEL";

    /// <param name="progress">Called as each component is read (fraction 0..1 and a stage name), for progress bars.</param>
    public static ScaleWiseModel Load(string folder, Device? device = null, Action<ModelLoadProgress>? progress = null)
    {
        device ??= CPU;
        var manifest = ModelManifest.Load(folder);
        folder = Path.GetDirectoryName(Path.GetFullPath(Path.Combine(folder, ModelManifest.FileName)))!;
        // Refuse before allocating anything when the machine cannot hold the model (weights, KV cache, activations, decode).
        if (device.type == DeviceType.CPU && manifest.Kind is ModelKinds.Star or ModelKinds.Var) MemoryEstimator.EnsureFits(MemoryEstimator.ForManifest(manifest, folder), MemoryEstimator.AvailableBytes());
        using var noGrad = no_grad();
        progress?.Invoke(new ModelLoadProgress(0.05, "VQ-VAE"));
        var vae = new VQVAE(manifest.GetComponent<VqVaeConfig>(ModelFileRoles.VqVae));
        // The VAE's ema_vocab_hit_SV is a training statistic shaped by the schedule the VAE was trained with (official
        // files: 10 scales); inference never reads it, so it is skipped rather than forcing one schedule.
        LoadWeights(vae, manifest.ResolveFile(folder, ModelFileRoles.VqVae), OfficialImporter.VaeLoadOptions);
        switch (manifest.Kind)
        {
            case ModelKinds.Star:
            {
                var config = manifest.GetComponent<StarConfig>(ModelFileRoles.Transformer);
                progress?.Invoke(new ModelLoadProgress(0.2, "transformer"));
                var transformer = new StarTransformer(config);
                LoadWeights(transformer, manifest.ResolveFile(folder, ModelFileRoles.Transformer), StateDictLoadOptions.Default, KeyPath(manifest, ModelFileRoles.Transformer));
                progress?.Invoke(new ModelLoadProgress(0.75, "text encoder"));
                var text = LoadTextEncoder(manifest, folder);
                progress?.Invoke(new ModelLoadProgress(1, "ready"));
                return Finish(new ScaleWiseModel(manifest.Name, transformer, vae, text, config.NumClasses, config.SampleFromIdx, device), manifest, device);
            }
            case ModelKinds.Var:
            {
                var config = manifest.GetComponent<VarConfig>(ModelFileRoles.Transformer);
                progress?.Invoke(new ModelLoadProgress(0.2, "transformer"));
                var transformer = new VarTransformer(config);
                LoadWeights(transformer, manifest.ResolveFile(folder, ModelFileRoles.Transformer), StateDictLoadOptions.Default, KeyPath(manifest, ModelFileRoles.Transformer));
                progress?.Invoke(new ModelLoadProgress(1, "ready"));
                return Finish(new ScaleWiseModel(manifest.Name, transformer, vae, null, config.NumClasses, int.MaxValue, device), manifest, device);
            }
            default:
                throw new InvalidDataException($"{Path.Combine(folder, ModelManifest.FileName)}: model kind '{manifest.Kind}' cannot generate images (expected '{ModelKinds.Star}' or '{ModelKinds.Var}').");
        }
    }

    /// <summary>Writes a model folder that <see cref="Load"/> reads back exactly.</summary>
    public static string Save(ScaleWiseModel model, string folder, string? description = null)
    {
        // Official models live in their own folders (model.json written by `models add`); re-saving would drop the
        // tokenizer files and the preset, so it is refused rather than writing a folder that cannot load.
        if (model.TextEncoder is ClipTextModel)
            throw new NotSupportedException($"'{model.Name}' uses a CLIP text tower from an official folder; keep that folder (use `starstudio convert` for safetensors) instead of saving a copy.");
        Directory.CreateDirectory(folder);
        var manifest = new ModelManifest { Name = model.Name, Description = description, PatchNums = [.. model.Transformer.PatchNums], Sampling = model.Recommended };
        manifest.SetComponent(ModelFileRoles.VqVae, model.Vae.Config);
        switch (model.Transformer)
        {
            case StarTransformer star:
                manifest.Kind = ModelKinds.Star;
                manifest.SetComponent(ModelFileRoles.Transformer, star.Config);
                break;
            case VarTransformer var:
                manifest.Kind = ModelKinds.Var;
                manifest.SetComponent(ModelFileRoles.Transformer, var.Config);
                break;
            default:
                throw new NotSupportedException($"Cannot save a {model.Transformer.GetType().Name}.");
        }
        SafetensorsWriter.Write(Path.Combine(folder, TransformerFile), StateOf((nn.Module)model.Transformer));
        SafetensorsWriter.Write(Path.Combine(folder, VaeFile), StateOf(model.Vae));
        manifest.Files[ModelFileRoles.Transformer] = TransformerFile;
        manifest.Files[ModelFileRoles.VqVae] = VaeFile;
        if (model.TextEncoder is WordTextEncoder text)
        {
            SafetensorsWriter.Write(Path.Combine(folder, TextFile), StateOf(text));
            File.WriteAllText(Path.Combine(folder, VocabFile), text.Tokenizer.ToJson());
            manifest.Files[ModelFileRoles.TextEncoder] = TextFile;
            manifest.SetComponent(ModelFileRoles.TextEncoder, text.Config);
            manifest.TextEncoder = new TextEncoderManifest { Kind = "word", VocabularyFile = VocabFile, MaxTokens = text.MaxTokens, Dim = text.Dim };
        }
        return manifest.Save(folder);
    }

    /// <summary>
    /// The model used when nothing else is configured: $STARSTUDIO_MODEL, else the embedded model shipped with the
    /// application (models/default beside the binaries, or the repository's models/ folder when run from source).
    /// </summary>
    public static string? DefaultModelFolder()
    {
        if (Environment.GetEnvironmentVariable(DefaultModelVariable) is { Length: > 0 } env) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, "models", "default"), Path.Combine(dir.FullName, "models", "shapes-star") })
                if (File.Exists(Path.Combine(candidate, ModelManifest.FileName))) return candidate;
        }
        return null;
    }

    public static ScaleWiseModel LoadDefault(Device? device = null) =>
        DefaultModelFolder() is { } folder
            ? Load(folder, device)
            : throw new InvalidOperationException(
                $"No default model found: set {DefaultModelVariable} to a model folder, pass --model FOLDER, or use --random PRESET for random weights.");

    static ScaleWiseModel Finish(ScaleWiseModel model, ModelManifest manifest, Device device)
    {
        var recommended = manifest.Sampling ?? (manifest.Preset is { } preset ? Presets.OfficialPresets.Find(preset)?.Defaults : null);
        model.Recommended = recommended?.FitTo(model.Limits);
        ((nn.Module)model.Transformer).to(device).eval();
        model.Vae.to(device).eval();
        (model.TextEncoder as nn.Module)?.to(device).eval();
        return model;
    }

    static ITextEncoder LoadTextEncoder(ModelManifest manifest, string folder)
    {
        var info = manifest.TextEncoder ?? throw new InvalidDataException($"{folder}: a STAR model needs a text_encoder section in {ModelManifest.FileName}.");
        if (info.Kind == "clip")
        {
            // Hugging Face folders: the weights file sits beside its config.json, the tokenizer files beside tokenizer_config.json.
            string weights = manifest.ResolveFile(folder, ModelFileRoles.TextEncoder);
            string vocab = Path.Combine(folder, info.VocabularyFile ?? "tokenizer/vocab.json");
            return ClipTextModel.Load(Path.GetDirectoryName(weights)!, Path.GetDirectoryName(vocab)!, weightsFile: weights);
        }
        if (info.Kind != "word")
            throw new NotSupportedException($"{folder}: text encoder kind '{info.Kind}' is not supported (expected 'clip' for official STAR models or 'word' for StarStudio's own).");
        var vocabPath = Path.Combine(folder, info.VocabularyFile ?? VocabFile);
        var tokenizer = WordTokenizer.FromJson(File.ReadAllText(vocabPath));
        var text = new WordTextEncoder(tokenizer, manifest.GetComponent<WordTextEncoderConfig>(ModelFileRoles.TextEncoder));
        LoadWeights(text, manifest.ResolveFile(folder, ModelFileRoles.TextEncoder), StateDictLoadOptions.Default);
        return text;
    }

    static void LoadWeights(nn.Module module, string path, StateDictLoadOptions options, IReadOnlyList<string>? keyPath = null)
    {
        using var sd = CheckpointFile.ReadStateDict(path, keyPath);
        StateDictLoader.Load(module, sd, options, path);
    }

    /// <summary>Where a role's state dict sits in its file (manifest key_paths: "trainer/var_wo_ddp"); null: auto-detect.</summary>
    static string[]? KeyPath(ModelManifest manifest, string role) =>
        manifest.KeyPaths is { } paths && paths.TryGetValue(role, out var p) && p.Length > 0 ? p.Split('/') : null;

    static Dictionary<string, Tensor> StateOf(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
}
