using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Web.Api;

/// <summary>The JSON body of POST /api/generate and of the hub's Generate stream.</summary>
public sealed record ApiGenerateRequest
{
    /// <summary>Text prompt (STAR models); "" generates unconditionally.</summary>
    public string? Prompt { get; init; }
    /// <summary>Replaces the empty prompt in the unconditional half of classifier-free guidance.</summary>
    public string? NegativePrompt { get; init; }
    /// <summary>Class label (VAR models).</summary>
    public int? ClassLabel { get; init; }
    /// <summary>Seed of the first image; null picks one at random (returned in the PNG's parameters).</summary>
    public long? Seed { get; init; }
    // Sampling settings left out (null) take the model's recommended ones (model.json "sampling"), else StarStudio's
    // general defaults: cfg 4, top-k 0 (off), top-p 0.8, more-smooth and stable sampling off.
    public double? Cfg { get; init; }
    public int? TopK { get; init; }
    public double? TopP { get; init; }
    public bool? MoreSmooth { get; init; }
    public bool? StableSampling { get; init; }
    /// <summary>A loaded model's name (GET /api/models); null: the active model.</summary>
    public string? Model { get; init; }
    /// <summary>Images of the same prompt (seeds Seed, Seed+1, ...). POST /api/generate takes 1.</summary>
    public int BatchSize { get; init; } = 1;

    public GenerationRequest ToRequest(ModelInfo model)
    {
        int n = Math.Max(BatchSize, 0);
        bool textConditional = model.Limits.TextConditional;
        var d = model.Recommended ?? StarStudio.Model.Presets.SamplingDefaults.General;
        return new GenerationRequest
        {
            Prompts = textConditional || Prompt is not null ? Enumerable.Repeat(Prompt ?? "", n).ToArray() : [],
            ClassLabels = ClassLabel is { } c ? Enumerable.Repeat(c, n).ToArray() : [],
            NegativePrompt = NegativePrompt,
            Seed = Seed ?? Random.Shared.NextInt64(0, 1L << 31),
            Cfg = Cfg ?? d.Cfg,
            TopK = TopK ?? d.TopK,
            TopP = TopP ?? d.TopP,
            MoreSmooth = MoreSmooth ?? d.MoreSmooth,
            StableSampling = StableSampling ?? d.StableSampling,
        };
    }
}

/// <summary>A 400 answer: every problem, each tied to the request field it is about.</summary>
public sealed record ApiValidationProblem(IReadOnlyList<ValidationError> Errors);

/// <summary>GET /api/models: a loaded model.</summary>
/// <param name="Active">Used by requests that name no model.</param>
public sealed record ApiModel(string Name, string State, string? Error, bool RandomWeights, bool TextConditional,
    int Resolution, IReadOnlyList<int> PatchNums, int VocabSize, int NumClasses, bool StableSampling, int MaxBatch, string Source,
    bool Active);

/// <summary>
/// One scale streamed by the hub: the preview of every image so far, as PNG bytes (base64 in JSON), and the codes
/// this scale chose, so a program can rebuild the scale explorer. The last scale's item carries the final images
/// with their parameters embedded and their history ids.
/// </summary>
/// <param name="Tokens">Per image: this scale's token map, Side x Side code ids in row-major order.</param>
/// <param name="Confidence">Per image: the probability the sampler gave each chosen code, same layout.</param>
public sealed record HubFrame(int Scale, int ScaleCount, int Side, IReadOnlyList<byte[]> Pngs,
    double TransformerMs, double SamplingMs, double DecodeMs, double ElapsedMs, IReadOnlyList<string> Notices,
    IReadOnlyList<int[]> Tokens, IReadOnlyList<float[]> Confidence, IReadOnlyList<long>? HistoryIds = null);
