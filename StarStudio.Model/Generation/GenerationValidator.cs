namespace StarStudio.Model.Generation;

/// <summary>What the loaded model allows, for validating a request against it.</summary>
/// <param name="VocabSize">Codebook size V (top-k upper bound).</param>
/// <param name="TextConditional">STAR (prompts) or VAR (class labels).</param>
/// <param name="NumClasses">VAR: number of classes.</param>
/// <param name="HasStableSamplerHead">Whether stable sampling is available.</param>
/// <param name="ScaleCount">Scales in the schedule (prefix length bound).</param>
/// <param name="PatchNums">Side of each scale's token map.</param>
/// <param name="MaxRows">Images per request (1 for models that reproduce the reference's cross-attention batch quirk,
/// which would mix the rows' prompts).</param>
public sealed record ModelLimits(int VocabSize, bool TextConditional, int NumClasses, bool HasStableSamplerHead, IReadOnlyList<int> PatchNums,
    int MaxRows = GenerationValidator.MaxBatch)
{
    public int ScaleCount => PatchNums.Count;
    /// <summary>STAR with the reference's batch-broadcast cross-attention: one prompt per run.</summary>
    public bool CrossAttentionBatchQuirk => MaxRows == 1;
}

/// <summary>One problem with a request, tied to the field a form would show it next to.</summary>
public sealed record ValidationError(string Field, string Message);

/// <summary>A request that cannot run; carries every problem found, not just the first.</summary>
public sealed class InvalidGenerationRequestException(IReadOnlyList<ValidationError> errors)
    : ArgumentException("Invalid generation request: " + string.Join(" ", errors.Select(e => $"{e.Field}: {e.Message}")))
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}

/// <summary>All parameter checks live here, so the CLI, the app and the API say the same thing.</summary>
public static class GenerationValidator
{
    public const double MaxCfg = 20;
    public const int MaxBatch = 64;

    public static IReadOnlyList<ValidationError> Check(GenerationRequest r, ModelLimits m)
    {
        var errors = new List<ValidationError>();
        void Fail(string field, string message) => errors.Add(new(field, message));

        if (m.TextConditional)
        {
            if (r.Prompts.Count == 0) Fail("prompt", "Give at least one prompt (an empty prompt \"\" generates unconditionally).");
            if (r.ClassLabels.Count > 0) Fail("class", "This is a text-to-image model; it takes prompts, not class labels.");
            if (r.Prompts.Any(p => p is null)) Fail("prompt", "A prompt is missing (null).");
        }
        else
        {
            if (r.ClassLabels.Count == 0) Fail("class", "Give at least one class label.");
            if (r.Prompts.Count > 0) Fail("prompt", "This is a class-conditional model; it takes class labels, not prompts.");
            foreach (var c in r.ClassLabels.Where(c => c < 0 || c >= m.NumClasses).Distinct())
                Fail("class", $"Class {c} is out of range: 0 to {m.NumClasses - 1}.");
            if (!string.IsNullOrEmpty(r.NegativePrompt)) Fail("negative prompt", "Negative prompts need a text-to-image model.");
        }
        if (r.Rows > m.MaxRows)
            Fail("batch", m.MaxRows == 1
                ? "This model reproduces the reference's cross-attention batch quirk (official STAR weights: row 0's text leaks into every row), so it generates one image at a time; " +
                  "run the prompts one by one, or set cross_attention_batch_quirk to false in model.json for per-sample cross-attention."
                : $"Batch of {r.Rows} is too large: at most {m.MaxRows} images at once.");
        if (double.IsNaN(r.Cfg) || r.Cfg < 0 || r.Cfg > MaxCfg) Fail("cfg", $"CFG must be between 0 and {MaxCfg} (got {r.Cfg}).");
        if (r.TopK < 0 || r.TopK > m.VocabSize) Fail("top-k", $"Top-k must be between 0 (off) and the vocabulary size {m.VocabSize} (got {r.TopK}).");
        if (double.IsNaN(r.TopP) || r.TopP < 0 || r.TopP > 1) Fail("top-p", $"Top-p must be between 0 (off) and 1 (got {r.TopP}).");
        if (r.Seed < 0) Fail("seed", $"Seed must be between 0 and {long.MaxValue} (got {r.Seed}).");
        if (r.Seeds is { } seeds)
        {
            if (seeds.Count != r.Rows) Fail("seed", $"Give one seed per image: {r.Rows} images, {seeds.Count} seeds.");
            if (seeds.Any(s => s < 0)) Fail("seed", $"Seeds must be between 0 and {long.MaxValue}.");
        }
        if (r.StableSampling && !m.HasStableSamplerHead)
            Fail("stable sampling", "This model has no stable-sampler head (STAR's 'sampler' checkpoints have one); turn stable sampling off.");
        if (r.StableSampling && r.MoreSmooth)
            Fail("more smooth", "More-smooth and stable sampling cannot be combined (the reference applies more-smooth only without stable sampling).");
        if (r.PrefixTokens is { } prefix) CheckPrefix(prefix, r.Rows, m, Fail);
        return errors;
    }

    public static void Validate(GenerationRequest r, ModelLimits m)
    {
        var errors = Check(r, m);
        if (errors.Count > 0) throw new InvalidGenerationRequestException(errors);
    }

    static void CheckPrefix(IReadOnlyList<IReadOnlyList<int[]>> prefix, int rows, ModelLimits m, Action<string, string> fail)
    {
        if (prefix.Count > m.ScaleCount) { fail("fork", $"Cannot keep {prefix.Count} scales: the model has {m.ScaleCount}."); return; }
        for (int si = 0; si < prefix.Count; si++)
        {
            int pn = m.PatchNums[si];
            if (prefix[si].Count != rows) { fail("fork", $"Scale {si + 1} has token maps for {prefix[si].Count} images, expected {rows}."); return; }
            foreach (var map in prefix[si])
            {
                if (map.Length != pn * pn) { fail("fork", $"Scale {si + 1} needs {pn}x{pn} = {pn * pn} tokens, got {map.Length}."); return; }
                if (map.Any(t => t < 0 || t >= m.VocabSize)) { fail("fork", $"Scale {si + 1} has token ids outside 0..{m.VocabSize - 1}."); return; }
            }
        }
    }
}
