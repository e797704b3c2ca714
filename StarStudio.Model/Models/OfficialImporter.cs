// `starstudio models add`: recognise a folder of official files (STAR trainer checkpoints ar-ckpt-*.pth with the model
// under trainer/var_wo_ddp, VAR's var_d*.pth, CCA fine-tunes, vae_ch160v4096z32.pth, Stable Diffusion 2.1's
// text_encoder/ and tokenizer/ folders), work out each component's configuration from the tensors' shapes, check every
// key and shape against the module that configuration builds (on the meta device: no memory), and write model.json.
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Presets;
using StarStudio.Model.Text.Clip;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Models;

/// <summary>What the user may tell the importer that the weights can't.</summary>
public sealed record ImportOptions
{
    /// <summary>Check against this preset instead of the detected one (e.g. star-d16-512: 256 and 512 px STAR weights
    /// have the same shapes).</summary>
    public string? Preset { get; init; }
    /// <summary>Scale schedule for non-official models whose schedule the shapes don't reveal.</summary>
    public IReadOnlyList<int>? PatchNums { get; init; }
    /// <summary>Model name in model.json (default: the folder's name).</summary>
    public string? Name { get; init; }
    /// <summary>Reproduce the reference's cross-attention batch quirk (official STAR weights: on).</summary>
    public bool? CrossAttentionBatchQuirk { get; init; }
}

/// <summary>The result of inspecting a folder: what was found, what it is, and every mismatch.</summary>
public sealed class ImportReport
{
    public required string Folder { get; init; }
    public string Kind { get; internal set; } = "";
    public ModelPreset? Preset { get; internal set; }
    public StarConfig? Star { get; internal set; }
    public VarConfig? Var { get; internal set; }
    public VqVaeConfig? Vae { get; internal set; }
    public ClipTextConfig? Clip { get; internal set; }
    public string? TransformerFile { get; internal set; }
    public IReadOnlyList<string> TransformerKeyPath { get; internal set; } = [];
    public string? VaeFile { get; internal set; }
    public string? TextEncoderWeights { get; internal set; }
    public string? TokenizerFolder { get; internal set; }
    public int TokenizerMaxLength { get; internal set; }
    public List<ComponentCheck> Checks { get; } = [];
    /// <summary>Problems that stop the import (missing files, unrecognisable weights, mismatches).</summary>
    public List<string> Errors { get; } = [];
    /// <summary>Things the user should know (assumptions, ignored training statistics).</summary>
    public List<string> Notes { get; } = [];

    public bool Ok => Errors.Count == 0 && Checks.All(c => c.Ok);

    /// <summary>The whole report as text lines, for the CLI and logs.</summary>
    public IEnumerable<string> Lines()
    {
        yield return $"{Folder}: " + (Kind.Length == 0 ? "not recognised" : $"{Kind} model, preset {Preset?.Name ?? "(none: custom size)"}");
        foreach (var c in Checks) yield return (c.Ok ? "  ok    " : "  FAIL  ") + c.Describe().Replace("\n", "\n        ");
        foreach (var e in Errors) yield return "  error " + e;
        foreach (var n in Notes) yield return "  note  " + n;
    }
}

public static class OfficialImporter
{
    static readonly Device Meta = new(DeviceType.META);

    /// <summary>The VAE's codebook-usage statistic: a training buffer whose first dimension is the number of scales the
    /// VAE was trained with, so it differs between 256 px and 1024 px schedules and inference never reads it.</summary>
    public const string VaeTrainingStatistic = "ema_vocab_hit_SV";

    /// <summary>Options for loading official VAE weights into a VQ-VAE built for any schedule.</summary>
    public static StateDictLoadOptions VaeLoadOptions { get; } = new() { IgnoreNames = [VaeTrainingStatistic] };

    static readonly string[] WeightExtensions = [".pth", ".pt", ".bin", ".ckpt", ".safetensors"];

    /// <summary>Inspects the folder; never throws for bad content (everything lands in the report).</summary>
    public static ImportReport Inspect(string folder, ImportOptions? options = null)
    {
        options ??= new ImportOptions();
        folder = Path.GetFullPath(folder);
        var report = new ImportReport { Folder = folder };
        if (!Directory.Exists(folder))
        {
            report.Errors.Add($"{folder} is not a folder.");
            return report;
        }
        ModelPreset? forced = null;
        if (options.Preset is { } presetName)
        {
            forced = OfficialPresets.Find(presetName);
            if (forced is null)
            {
                report.Errors.Add($"Unknown preset '{presetName}'. Presets: {string.Join(", ", OfficialPresets.Names)}.");
                return report;
            }
        }

        // 1. Find the files.
        var weights = Directory.EnumerateFiles(folder).Where(f => WeightExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        var vaeFiles = weights.Where(f => Path.GetFileName(f).StartsWith("vae", StringComparison.OrdinalIgnoreCase)).ToList();
        var transformerFiles = weights.Except(vaeFiles).ToList();
        if (transformerFiles.Count == 0)
            report.Errors.Add("No transformer weights found (expected ar-ckpt-*.pth for STAR or var_d*.pth for VAR).");
        else if (transformerFiles.Count > 1)
            report.Errors.Add($"More than one transformer file: {string.Join(", ", transformerFiles.Select(Path.GetFileName))}; keep one per model folder.");
        if (vaeFiles.Count == 0) report.Errors.Add("No VQ-VAE weights found (expected vae_ch160v4096z32.pth).");
        else if (vaeFiles.Count > 1) report.Errors.Add($"More than one VQ-VAE file: {string.Join(", ", vaeFiles.Select(Path.GetFileName))}.");
        if (report.Errors.Count > 0) return report;

        // 2. The transformer: its kind, size and schedule from the shapes.
        report.TransformerFile = transformerFiles[0];
        CheckpointShapes t;
        try { t = CheckpointShapes.Read(report.TransformerFile); }
        catch (Exception e) when (e is CheckpointException or IOException or InvalidDataException)
        {
            report.Errors.Add(e.Message);
            return report;
        }
        Detect(report, t, forced, options);
        if (report.Errors.Count > 0) return report;
        string fileName = Path.GetFileName(report.TransformerFile);

        // 3. Check the transformer against the module its configuration builds.
        using (var module = report.Star is { } sc ? (nn.Module)new StarTransformer(sc, Meta) : new VarTransformer(report.Var!, Meta))
            report.Checks.Add(ComponentCheck.Compare(ModelFileRoles.Transformer, fileName, StateDictExtractor.FormatKeyPath(t.KeyPath), t.Shapes, CheckpointShapes.Of(module)));

        // 4. The VQ-VAE.
        report.VaeFile = vaeFiles[0];
        CheckVae(report, forced);

        // 5. STAR's text tower.
        if (report.Kind == ModelKinds.Star) CheckText(report, folder);
        return report;
    }

    /// <summary>Kind, configuration and preset of a transformer state dict from its keys and shapes alone.</summary>
    public static ImportReport DetectTransformer(CheckpointShapes t, ImportOptions? options = null)
    {
        options ??= new ImportOptions();
        var report = new ImportReport { Folder = Path.GetDirectoryName(Path.GetFullPath(t.Path)) ?? "", TransformerFile = t.Path };
        ModelPreset? forced = null;
        if (options.Preset is { } name && (forced = OfficialPresets.Find(name)) is null)
            report.Errors.Add($"Unknown preset '{name}'. Presets: {string.Join(", ", OfficialPresets.Names)}.");
        else Detect(report, t, forced, options);
        return report;
    }

    static void Detect(ImportReport report, CheckpointShapes t, ModelPreset? forced, ImportOptions options)
    {
        report.TransformerKeyPath = t.KeyPath;
        string fileName = Path.GetFileName(t.Path);
        if (IsStar(t)) DetectStar(report, t, fileName, forced, options);
        else if (IsVar(t)) DetectVar(report, t, forced, options);
        else
            report.Errors.Add($"{fileName} [{StateDictExtractor.FormatKeyPath(t.KeyPath)}] is neither a STAR transformer (encoder_proj, cross_attn) " +
                              "nor a VAR transformer (pos_1LC, ada_lin): " + string.Join(", ", t.Shapes.Keys.Take(8)) + (t.Shapes.Count > 8 ? ", ..." : ""));
    }

    static bool IsStar(CheckpointShapes t) => t.Has("encoder_proj.weight") || t.Shapes.Keys.Any(k => k.Contains(".cross_attn.", StringComparison.Ordinal));
    static bool IsVar(CheckpointShapes t) => t.Has("pos_1LC") || t.Has("head_nm.ada_lin.1.weight");

    static void DetectStar(ImportReport report, CheckpointShapes t, string fileName, ModelPreset? forced, ImportOptions options)
    {
        report.Kind = ModelKinds.Star;
        if (forced is not null && forced.Kind != ModelKinds.Star)
        {
            report.Errors.Add($"{fileName} holds a STAR transformer but the preset {forced.Name} is a {forced.Kind} model.");
            return;
        }
        int depth = t.CountBlocks("blocks");
        long[]? posStart = t.ShapeOf("pos_start"), lvl = t.ShapeOf("lvl_embed.weight"), proj = t.ShapeOf("encoder_proj.weight"), head = t.ShapeOf("head_logits.weight"),
            word = t.ShapeOf("word_embed.weight"), scale = t.ShapeOf("blocks.0.attn.scale_mul_1H11"), cls = t.ShapeOf("class_emb.weight"), fc1 = t.ShapeOf("blocks.0.ffn.fc1.weight");
        if (depth == 0 || posStart is not { Length: 3 } || lvl is not { Length: 2 } || proj is not { Length: 2 } || head is not { Length: 2 } || word is not { Length: 2 } || fc1 is not { Length: 2 })
        {
            report.Errors.Add($"{fileName}: a STAR transformer needs blocks.*, pos_start, lvl_embed.weight, encoder_proj.weight, word_embed.weight, head_logits.weight; some are missing or oddly shaped.");
            return;
        }
        int width = (int)posStart[2], scales = (int)lvl[0];
        bool sampler = t.Has("head_logits2.weight");
        IReadOnlyList<int>? patchNums = forced?.PatchNums ?? options.PatchNums;
        if (patchNums is null)
        {
            if (scales == PatchSchedules.Px1024.Count) patchNums = PatchSchedules.Px1024;
            else if (scales == PatchSchedules.Px256.Count)
            {
                // 256 and 512 px STAR models share every shape (10 scales, no absolute positions): the file name decides.
                bool says512 = fileName.Contains("512", StringComparison.Ordinal);
                patchNums = says512 ? PatchSchedules.Px512 : PatchSchedules.Px256;
                report.Notes.Add(says512
                    ? "256 and 512 px STAR weights have the same shapes; the file name says 512, so the 512 px schedule is used."
                    : "256 and 512 px STAR weights have the same shapes; assumed 256 px. For a 512 px model pass --preset " +
                      $"star-d{depth}-512{(sampler ? "-sampler" : "")}.");
            }
            else
            {
                report.Errors.Add($"{fileName} has {scales} scales, which matches no official schedule; pass --patch-nums.");
                return;
            }
        }
        var official = forced?.Star;
        report.Star = (official ?? new StarConfig()) with
        {
            Depth = official?.Depth ?? depth,
            Width = official?.Width ?? width,
            Heads = official?.Heads ?? (scale is { Length: 4 } ? (int)scale[1] : depth),
            AttnL2Norm = official?.AttnL2Norm ?? scale is not null,
            MlpRatio = official?.MlpRatio ?? (double)fc1[0] / width,
            TextDim = official?.TextDim ?? (int)proj[1],
            VocabSize = official?.VocabSize ?? (int)head[0],
            Cvae = official?.Cvae ?? (int)word[1],
            NumClasses = official?.NumClasses ?? (cls is { Length: 2 } ? (int)cls[0] - 1 : 1000),
            StableSamplerHead = official?.StableSamplerHead ?? sampler,
            SamplerDepth = official?.SamplerDepth ?? (sampler ? t.CountBlocks("feat_extract_blocks") : 3),
            SampleFromIdx = official?.SampleFromIdx ?? Math.Min(9, patchNums.Count - 1),
            PatchNums = patchNums,
            // Released weights were trained and sampled with sample 0's cross-attention broadcast to the batch;
            // reproducing their images needs it (one prompt per run, see docs/FIDELITY.md).
            CrossAttentionBatchQuirk = options.CrossAttentionBatchQuirk ?? true,
        };
        int res = patchNums[^1] * 16;
        report.Preset = forced ?? OfficialPresets.All.FirstOrDefault(p => p.Star is { } s && s.Depth == report.Star.Depth && s.Width == report.Star.Width
            && s.PatchNums.SequenceEqual(patchNums) && s.StableSamplerHead == report.Star.StableSamplerHead && s.TextDim == report.Star.TextDim
            && s.VocabSize == report.Star.VocabSize);
        if (report.Preset is null) report.Notes.Add($"No official preset has depth {depth}, width {width}, {res} px; imported as a custom STAR model.");
    }

    static void DetectVar(ImportReport report, CheckpointShapes t, ModelPreset? forced, ImportOptions options)
    {
        report.Kind = ModelKinds.Var;
        string fileName = Path.GetFileName(t.Path);
        if (forced is not null && forced.Kind != ModelKinds.Var)
        {
            report.Errors.Add($"{fileName} holds a VAR transformer but the preset {forced.Name} is a {forced.Kind} model.");
            return;
        }
        int depth = t.CountBlocks("blocks");
        long[]? pos = t.ShapeOf("pos_1LC"), head = t.ShapeOf("head.weight"), word = t.ShapeOf("word_embed.weight"), cls = t.ShapeOf("class_emb.weight"),
            scale = t.ShapeOf("blocks.0.attn.scale_mul_1H11"), fc1 = t.ShapeOf("blocks.0.ffn.fc1.weight");
        if (depth == 0 || pos is not { Length: 3 } || head is not { Length: 2 } || word is not { Length: 2 } || cls is not { Length: 2 } || fc1 is not { Length: 2 })
        {
            report.Errors.Add($"{fileName}: a VAR transformer needs blocks.*, pos_1LC, word_embed.weight, class_emb.weight, head.weight; some are missing or oddly shaped.");
            return;
        }
        int tokens = (int)pos[1], width = (int)pos[2];
        IReadOnlyList<int>? patchNums = forced?.PatchNums ?? options.PatchNums
            ?? new[] { PatchSchedules.Px256, PatchSchedules.Px512, PatchSchedules.Px1024 }.FirstOrDefault(s => PatchSchedules.TotalTokens(s) == tokens);
        if (patchNums is null)
        {
            report.Errors.Add($"{fileName} has {tokens} token positions, which matches no official schedule; pass --patch-nums.");
            return;
        }
        var official = forced?.Var;
        report.Var = (official ?? new VarConfig()) with
        {
            Depth = official?.Depth ?? depth,
            Width = official?.Width ?? width,
            Heads = official?.Heads ?? (scale is { Length: 4 } ? (int)scale[1] : depth),
            AttnL2Norm = official?.AttnL2Norm ?? scale is not null,
            MlpRatio = official?.MlpRatio ?? (double)fc1[0] / width,
            SharedAln = official?.SharedAln ?? t.Has("shared_ada_lin.1.weight"),
            NumClasses = official?.NumClasses ?? (int)cls[0] - 1,
            VocabSize = official?.VocabSize ?? (int)head[0],
            Cvae = official?.Cvae ?? (int)word[1],
            PatchNums = patchNums,
        };
        // CCA fine-tunes have VAR's exact shapes: only the name tells them apart.
        bool cca = fileName.Contains("cca", StringComparison.OrdinalIgnoreCase);
        report.Preset = forced ?? OfficialPresets.All.FirstOrDefault(p => p.Var is { } v && v.Depth == report.Var.Depth && v.Width == report.Var.Width
            && v.SharedAln == report.Var.SharedAln && v.PatchNums.SequenceEqual(patchNums) && v.NumClasses == report.Var.NumClasses
            && p.Name.StartsWith("cca-", StringComparison.Ordinal) == cca);
        if (report.Preset is null) report.Notes.Add($"No official preset has depth {depth}, width {width}, {tokens} tokens; imported as a custom VAR model.");
    }

    static void CheckVae(ImportReport report, ModelPreset? forced)
    {
        string name = Path.GetFileName(report.VaeFile!);
        CheckpointShapes v;
        try { v = CheckpointShapes.Read(report.VaeFile!); }
        catch (Exception e) when (e is CheckpointException or IOException or InvalidDataException)
        {
            report.Errors.Add(e.Message);
            return;
        }
        var patchNums = report.Star?.PatchNums ?? report.Var!.PatchNums;
        var config = forced?.Vae ?? DeriveVae(v, patchNums, report);
        if (config is null) return;
        report.Vae = config with { VPatchNums = patchNums };
        int vocab = report.Star?.VocabSize ?? report.Var!.VocabSize, cvae = report.Star?.Cvae ?? report.Var!.Cvae;
        if (report.Vae.VocabSize != vocab || report.Vae.Cvae != cvae)
            report.Errors.Add($"{name}: codebook {report.Vae.VocabSize} x {report.Vae.Cvae} does not match the transformer's {vocab} x {cvae}.");
        try
        {
            using var module = new VQVAE(report.Vae, Meta);
            report.Checks.Add(ComponentCheck.Compare(ModelFileRoles.VqVae, name, StateDictExtractor.FormatKeyPath(v.KeyPath), v.Shapes, CheckpointShapes.Of(module),
                k => k == "quantize." + VaeTrainingStatistic));
        }
        catch (ArgumentException e)
        {
            report.Errors.Add($"{name}: {e.Message}");
        }
        if (v.ShapeOf("quantize." + VaeTrainingStatistic) is { } stat && stat.Length == 2 && stat[0] != patchNums.Count)
            report.Notes.Add($"{name} was trained with {stat[0]} scales (its {VaeTrainingStatistic} statistic); it is not used for generation and is skipped.");
    }

    /// <summary>The VQ-VAE configuration the shapes describe (ch, ch_mult, res blocks, codebook, Phi sharing).</summary>
    static VqVaeConfig? DeriveVae(CheckpointShapes v, IReadOnlyList<int> patchNums, ImportReport report)
    {
        string name = Path.GetFileName(v.Path);
        long[]? emb = v.ShapeOf("quantize.embedding.weight"), convIn = v.ShapeOf("encoder.conv_in.weight"), quantConv = v.ShapeOf("quant_conv.weight");
        int levels = v.CountBlocks("encoder.down");
        if (emb is not { Length: 2 } || convIn is not { Length: 4 } || quantConv is not { Length: 4 } || levels == 0)
        {
            report.Errors.Add($"{name} is not a VQ-VAE state dict (needs quantize.embedding.weight, encoder.conv_in.weight, quant_conv.weight, encoder.down.*).");
            return null;
        }
        int ch = (int)convIn[0];
        var mult = new List<int>();
        for (int i = 0; i < levels; i++)
        {
            if (v.ShapeOf($"encoder.down.{i}.block.0.conv2.weight") is not { Length: 4 } s || s[0] % ch != 0)
            {
                report.Errors.Add($"{name}: encoder.down.{i}.block.0.conv2.weight is missing or not a multiple of {ch} channels.");
                return null;
            }
            mult.Add((int)(s[0] / ch));
        }
        int phis = v.CountBlocks("quantize.quant_resi.qresi_ls");
        var channels = mult.Select(m => m * ch).Append(ch).ToList();
        // GroupNorm's group count leaves no trace in the weights: the official 32, or the largest power of two that divides
        // every channel count for small custom VAEs.
        int groups = new[] { 32, 16, 8, 4, 2, 1 }.First(g => channels.All(c => c % g == 0));
        return new VqVaeConfig
        {
            VocabSize = (int)emb[0], Cvae = (int)emb[1], Ch = ch, ChMult = mult, InChannels = (int)convIn[1],
            NumResBlocks = v.CountBlocks("encoder.down.0.block"), QuantConvKs = (int)quantConv[2],
            ShareQuantResi = phis > 0 ? phis : 4, UsingSa = v.Has($"encoder.down.{levels - 1}.attn.0.qkv.weight"), UsingMidSa = v.Has("encoder.mid.attn_1.qkv.weight"),
            NormGroups = groups, VPatchNums = patchNums,
        };
    }

    static void CheckText(ImportReport report, string folder)
    {
        string textDir = Path.Combine(folder, "text_encoder"), tokDir = Path.Combine(folder, "tokenizer");
        if (!Directory.Exists(textDir) || !File.Exists(Path.Combine(textDir, "config.json")))
        {
            report.Errors.Add("A STAR model needs the text tower: a text_encoder/ folder with config.json and model.safetensors or pytorch_model.bin (Stable Diffusion 2.1's).");
            return;
        }
        if (!Directory.Exists(tokDir))
        {
            report.Errors.Add("A STAR model needs a tokenizer/ folder with vocab.json and merges.txt (Stable Diffusion 2.1's).");
            return;
        }
        try
        {
            report.Clip = ClipTextConfig.FromFile(Path.Combine(textDir, "config.json"));
            var tokenizer = ClipTokenizer.FromFolder(tokDir);
            report.TokenizerFolder = tokDir;
            report.TokenizerMaxLength = tokenizer.MaxLength;
            if (tokenizer.MaxLength > report.Clip.MaxPositionEmbeddings)
                report.Errors.Add($"tokenizer/ has a {tokenizer.MaxLength}-token window but the text tower only {report.Clip.MaxPositionEmbeddings} positions.");
            if (tokenizer.VocabSize > report.Clip.VocabSize)
                report.Errors.Add($"tokenizer/vocab.json has {tokenizer.VocabSize} tokens but the text tower's table only {report.Clip.VocabSize}.");
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            report.Errors.Add(e.Message);
            return;
        }
        if (report.Clip.HiddenSize != report.Star!.TextDim)
            report.Errors.Add($"The text tower is {report.Clip.HiddenSize} wide but the transformer expects {report.Star.TextDim} (in_dim_cross); STAR uses SD 2.1's 1024-wide tower.");
        report.TextEncoderWeights = ClipTextModel.FindWeights(textDir);
        if (report.TextEncoderWeights is null)
        {
            report.Errors.Add($"text_encoder/ holds no weights ({string.Join(", ", ClipTextModel.WeightFileNames)}).");
            return;
        }
        try
        {
            var shapes = CheckpointShapes.Read(report.TextEncoderWeights);
            using var module = new ClipTextModel(report.Clip, device: Meta);
            report.Checks.Add(ComponentCheck.Compare(ModelFileRoles.TextEncoder, "text_encoder/" + Path.GetFileName(report.TextEncoderWeights),
                StateDictExtractor.FormatKeyPath(shapes.KeyPath), shapes.Shapes, CheckpointShapes.Of(module), k => k.EndsWith("embeddings.position_ids", StringComparison.Ordinal)));
        }
        catch (Exception e) when (e is CheckpointException or IOException or InvalidDataException)
        {
            report.Errors.Add(e.Message);
        }
    }

    /// <summary>Writes model.json for a report that is <see cref="ImportReport.Ok"/>; returns its path.</summary>
    public static string WriteManifest(ImportReport report, ImportOptions? options = null)
    {
        if (!report.Ok) throw new InvalidOperationException($"{report.Folder} did not pass the checks:\n" + string.Join("\n", report.Lines()));
        var folder = report.Folder;
        string Rel(string path) => Path.GetRelativePath(folder, path).Replace(Path.DirectorySeparatorChar, '/');
        var manifest = new ModelManifest
        {
            Kind = report.Kind,
            Name = options?.Name ?? Path.GetFileName(folder.TrimEnd(Path.DirectorySeparatorChar)),
            Description = report.Preset?.Description ?? $"custom {report.Kind} model",
            Preset = report.Preset?.Name,
            PatchNums = [.. report.Star?.PatchNums ?? report.Var!.PatchNums],
        };
        manifest.Files[ModelFileRoles.Transformer] = Rel(report.TransformerFile!);
        manifest.Files[ModelFileRoles.VqVae] = Rel(report.VaeFile!);
        if (report.TransformerKeyPath.Count > 0)
            manifest.KeyPaths = new Dictionary<string, string> { [ModelFileRoles.Transformer] = string.Join("/", report.TransformerKeyPath) };
        if (report.Star is { } star) manifest.SetComponent(ModelFileRoles.Transformer, star);
        else manifest.SetComponent(ModelFileRoles.Transformer, report.Var!);
        manifest.SetComponent(ModelFileRoles.VqVae, report.Vae!);
        if (report.Kind == ModelKinds.Star)
        {
            manifest.Files[ModelFileRoles.TextEncoder] = Rel(report.TextEncoderWeights!);
            manifest.TextEncoder = new TextEncoderManifest
            {
                Kind = "clip",
                VocabularyFile = Rel(Path.Combine(report.TokenizerFolder!, "vocab.json")),
                MergesFile = Rel(Path.Combine(report.TokenizerFolder!, "merges.txt")),
                MaxTokens = report.TokenizerMaxLength,
                Dim = report.Clip!.HiddenSize,
            };
        }
        return manifest.Save(folder);
    }
}
