using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using StarStudio.Model.Sampling;

namespace StarStudio.Model.Generation;

/// <summary>
/// The parameters of one generated image as they travel inside its PNG: a JSON record under "starstudio" (read back
/// to restore a run) and a human-readable line under "parameters" (the convention other image tools use).
/// </summary>
public sealed record GenerationMetadata
{
    public string Model { get; init; } = "";
    public string? Prompt { get; init; }
    public string? NegativePrompt { get; init; }
    public int? ClassLabel { get; init; }
    public long Seed { get; init; }
    public double Cfg { get; init; }
    public int TopK { get; init; }
    public double TopP { get; init; }
    public bool MoreSmooth { get; init; }
    public bool StableSampling { get; init; }
    public StableSamplerVersion StableSamplerVersion { get; init; }
    public IReadOnlyList<int> PatchNums { get; init; } = [];
    public double TotalMs { get; init; }

    public const string JsonKey = "starstudio";
    public const string TextKey = "parameters";

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Metadata of row <paramref name="row"/> of a request.</summary>
    public static GenerationMetadata For(GenerationRequest r, int row, string model, IReadOnlyList<int> patchNums, double totalMs) => new()
    {
        Model = model,
        Prompt = r.Prompts.Count > row ? r.Prompts[row] : null,
        NegativePrompt = r.NegativePrompt,
        ClassLabel = r.ClassLabels.Count > row ? r.ClassLabels[row] : null,
        Seed = r.SeedFor(row),
        Cfg = r.Cfg,
        TopK = r.TopK,
        TopP = r.TopP,
        MoreSmooth = r.MoreSmooth,
        StableSampling = r.StableSampling,
        StableSamplerVersion = r.StableSamplerVersion,
        PatchNums = patchNums,
        TotalMs = totalMs,
    };

    /// <summary>A single-row request that reproduces this image.</summary>
    public GenerationRequest ToRequest() => new()
    {
        Prompts = Prompt is null ? [] : [Prompt],
        NegativePrompt = NegativePrompt,
        ClassLabels = ClassLabel is { } c ? [c] : [],
        Seed = Seed,
        Cfg = Cfg,
        TopK = TopK,
        TopP = TopP,
        MoreSmooth = MoreSmooth,
        StableSampling = StableSampling,
        StableSamplerVersion = StableSamplerVersion,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static GenerationMetadata FromJson(string json) =>
        JsonSerializer.Deserialize<GenerationMetadata>(json, Json) ?? throw new InvalidDataException("Empty StarStudio metadata.");

    public string ToText()
    {
        var inv = CultureInfo.InvariantCulture;
        var head = Prompt ?? (ClassLabel is { } c ? $"class {c}" : "");
        var neg = string.IsNullOrEmpty(NegativePrompt) ? "" : $"\nNegative prompt: {NegativePrompt}";
        return string.Create(inv,
            $"{head}{neg}\nScales: {PatchNums.Count}, CFG: {Cfg}, Top-k: {TopK}, Top-p: {TopP}, More smooth: {MoreSmooth}, Stable sampling: {StableSampling}, Seed: {Seed}, Model: {Model}, Time: {TotalMs:F0} ms");
    }

    public IReadOnlyDictionary<string, string> ToPngText() => new Dictionary<string, string> { [TextKey] = ToText(), [JsonKey] = ToJson() };

    /// <summary>Reads the metadata back from a StarStudio PNG, or null when the file has none.</summary>
    public static GenerationMetadata? FromPng(byte[] png) =>
        Imaging.PngText.Read(png).TryGetValue(JsonKey, out var json) ? FromJson(json) : null;
}
