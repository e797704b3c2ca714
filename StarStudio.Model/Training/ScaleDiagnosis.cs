// StarStudio's own analysis (no reference file): along which scales a model loses the picture. For every k = 0..S the
// model is handed the first k scales of the ground truth (the VQ-VAE's tokens of the prompt's true render, read as
// in training) and
//   1. predicts scale k greedily: how many of its tokens match, and how many of its "detail" tokens (those that are not
//      the quantiser's preferred, nothing-to-add code, which most tokens over a flat background are);
//   2. generates scales k..S-1 with the given sampler settings, and ShapesEval judges the picture.
// k = 0 is plain generation; k = S is the tokenizer's ceiling. A jump between rows k and k+1 says that scale k is
// where the model goes wrong.
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Model.Shapes;
using StarStudio.Model.Vae;
using static TorchSharp.torch;

namespace StarStudio.Model.Training;

/// <summary>One row of the diagnosis: the first <paramref name="GivenScales"/> scales came from the ground truth.</summary>
/// <param name="Side">Side of the next scale (the one predicted), or 0 when every scale was given.</param>
/// <param name="TokenAccuracy">Greedy predictions of the next scale that equal the ground truth's token (NaN when none is predicted).</param>
/// <param name="DetailShare">Share of the next scale's true tokens that are not the preferred code.</param>
/// <param name="DetailAccuracy">Greedy accuracy on those detail tokens.</param>
/// <param name="PredictedPlainShare">Share of the greedy predictions that are the preferred code.</param>
/// <param name="Eval">ShapesEval of the pictures generated from there with the diagnosis's sampler settings.</param>
public sealed record ScaleDiagnosisRow(int GivenScales, int Side, double TokenAccuracy, double DetailShare, double DetailAccuracy,
    double PredictedPlainShare, ShapesEvalTable Eval);

public sealed record ScaleDiagnosisReport(EvalSettings Settings, long PreferredCode, IReadOnlyList<ScaleDiagnosisRow> Rows,
    IReadOnlyList<IReadOnlyList<RgbImage>> Pictures);

public static class ScaleDiagnosis
{
    /// <summary>Runs the diagnosis; <see cref="ScaleDiagnosisReport.Pictures"/> keeps the first <paramref name="keepPictures"/> prompts' pictures per row.</summary>
    public static ScaleDiagnosisReport Run(ScaleWiseModel model, IReadOnlyList<HeldOutPrompt> prompts, EvalSettings settings,
        int keepPictures = 8, Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        if (settings.Batch < 1) throw new ArgumentException("The evaluation batch must be at least 1.");
        if (prompts.Count == 0) throw new ArgumentException("The diagnosis needs at least one prompt.");
        var pipeline = new GenerationPipeline(model);
        int S = model.Transformer.PatchNums.Count;
        var truth = GroundTruthTokens(model.Vae, prompts, settings.Batch);
        long plain = model.Vae.Quantize.PreferredCode();
        var rows = new List<ScaleDiagnosisRow>();
        var pictures = new List<IReadOnlyList<RgbImage>>();
        for (int given = 0; given <= S; given++)
        {
            var accuracy = new TokenAccuracy(plain);
            var results = new List<(EvalCategory, bool)>();
            var kept = new List<RgbImage>();
            for (int start = 0; start < prompts.Count; start += settings.Batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rowsOfChunk = Enumerable.Range(start, Math.Min(settings.Batch, prompts.Count - start)).ToList();
                var request = TruthRequest(settings, prompts, truth, rowsOfChunk, given);
                if (given < S) CountGreedy(pipeline, request, truth, rowsOfChunk, given, accuracy, cancellationToken);
                var last = pipeline.Generate(request, cancellationToken).Last();
                for (int j = 0; j < rowsOfChunk.Count; j++)
                {
                    var prompt = prompts[rowsOfChunk[j]];
                    results.Add((prompt.Category, ShapesEvaluator.Evaluate(last.Images![j], prompt.Claims).Passed));
                    if (rowsOfChunk[j] < keepPictures) kept.Add(last.Images![j]);
                }
            }
            rows.Add(new ScaleDiagnosisRow(given, given < S ? model.Transformer.PatchNums[given] : 0,
                accuracy.All, accuracy.DetailShare, accuracy.Detail, accuracy.PredictedPlainShare, new ShapesEvalTable(results)));
            pictures.Add(kept);
            progress?.Invoke(given + 1, S + 1);
        }
        return new ScaleDiagnosisReport(settings, plain, rows, pictures);
    }

    /// <summary>
    /// Only the first half of one row: the model's greedy guess (top-1 of the guided distribution) of scale
    /// <paramref name="given"/> from the truth's first <paramref name="given"/> scales, counted against the truth.
    /// </summary>
    public static TokenAccuracy GreedyAccuracy(ScaleWiseModel model, IReadOnlyList<HeldOutPrompt> prompts, EvalSettings settings, int given,
        CancellationToken cancellationToken = default)
    {
        int S = model.Transformer.PatchNums.Count;
        if (given < 0 || given >= S) throw new ArgumentOutOfRangeException(nameof(given), given, $"The model predicts scales 0..{S - 1}.");
        if (settings.Batch < 1) throw new ArgumentException("The evaluation batch must be at least 1.");
        var pipeline = new GenerationPipeline(model);
        var truth = GroundTruthTokens(model.Vae, prompts, settings.Batch);
        var accuracy = new TokenAccuracy(model.Vae.Quantize.PreferredCode());
        for (int start = 0; start < prompts.Count; start += settings.Batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var rowsOfChunk = Enumerable.Range(start, Math.Min(settings.Batch, prompts.Count - start)).ToList();
            CountGreedy(pipeline, TruthRequest(settings, prompts, truth, rowsOfChunk, given), truth, rowsOfChunk, given, accuracy, cancellationToken);
        }
        return accuracy;
    }

    /// <summary>The request for these rows with the truth's first <paramref name="given"/> scales handed to the pipeline.</summary>
    static GenerationRequest TruthRequest(EvalSettings settings, IReadOnlyList<HeldOutPrompt> prompts, List<int[][]> truth, List<int> rows, int given) =>
        settings.Request(prompts, rows, given == 0 ? null : Enumerable.Range(0, given)
            .Select(si => (IReadOnlyList<int[]>)[.. rows.Select(i => truth[i][si])]).ToList());

    /// <summary>Greedy (top-1 of the guided distribution) prediction of scale <paramref name="given"/>, counted; the run stops there.</summary>
    static void CountGreedy(GenerationPipeline pipeline, GenerationRequest request, List<int[][]> truth, List<int> rows, int given,
        TokenAccuracy accuracy, CancellationToken cancellationToken)
    {
        var greedy = request with { TopK = 1, TopP = 0, MoreSmooth = false, StableSampling = false };
        var frame = pipeline.Generate(greedy, cancellationToken).ElementAt(given);
        for (int j = 0; j < rows.Count; j++) accuracy.Add(frame.Tokens[j], truth[rows[j]][given]);
    }

    /// <summary>
    /// A contact sheet: the ground-truth renders on top, then one row per diagnosis row (k scales given), each picture
    /// captioned with k and whether ShapesEval passed it.
    /// </summary>
    public static void WriteSheet(string path, ScaleDiagnosisReport report, IReadOnlyList<HeldOutPrompt> prompts, int imageSide) =>
        WriteRows(path, prompts, imageSide, report.Rows.Zip(report.Pictures, (row, pics) => ($"{row.GivenScales} scales given", pics)));

    /// <summary>
    /// A contact sheet with one column per prompt (as many as the rows have pictures): the ground-truth renders on
    /// top, then each row's pictures, captioned with the row's label and whether ShapesEval passed the picture.
    /// </summary>
    public static void WriteRows(string path, IReadOnlyList<HeldOutPrompt> prompts, int imageSide,
        IEnumerable<(string Label, IReadOnlyList<RgbImage> Pictures)> rows)
    {
        var rowList = rows.ToList();
        int columns = rowList.Count == 0 ? 0 : rowList[0].Pictures.Count;
        if (columns == 0) return;
        var tiles = new List<(RgbImage, string)>();
        for (int i = 0; i < columns; i++) tiles.Add((ShapesRenderer.Render(prompts[i].Scene, imageSide), $"truth: {prompts[i].Prompt}"));
        foreach (var (label, pics) in rowList)
            for (int i = 0; i < pics.Count; i++)
            {
                bool passed = ShapesEvaluator.Evaluate(pics[i], prompts[i].Claims).Passed;
                tiles.Add((pics[i], $"{label}: {(passed ? "pass" : "FAIL")}"));
            }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        ContactSheet.Write(path, tiles, columns, tileSize: 128);
    }

    /// <summary>Per prompt, per scale: the token ids the model generates for the prompt with <paramref name="settings"/> (prompt i with seed Seed + i).</summary>
    public static List<int[][]> GeneratedTokens(ScaleWiseModel model, IReadOnlyList<HeldOutPrompt> prompts, EvalSettings settings,
        CancellationToken cancellationToken = default)
    {
        var pipeline = new GenerationPipeline(model);
        var pyramids = new List<int[][]>(prompts.Count);
        for (int start = 0; start < prompts.Count; start += settings.Batch)
        {
            var rows = Enumerable.Range(start, Math.Min(settings.Batch, prompts.Count - start)).ToList();
            var frames = pipeline.Generate(settings.Request(prompts, rows), cancellationToken).ToList();
            for (int j = 0; j < rows.Count; j++) pyramids.Add([.. frames.Select(f => f.Tokens[j])]);
        }
        return pyramids;
    }

    /// <summary>Per prompt, per scale: the VQ-VAE's token ids of the prompt's ground-truth render.</summary>
    internal static List<int[][]> GroundTruthTokens(VQVAE vae, IReadOnlyList<HeldOutPrompt> prompts, int batch)
    {
        int side = vae.Config.ImageSide;
        var device = vae.Quantize.Embedding.weight!.device;
        var truth = new List<int[][]>(prompts.Count);
        for (int start = 0; start < prompts.Count; start += batch)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var chunk = prompts.Skip(start).Take(batch).ToList();
            var x = ShapesBatches.ToTensor([.. chunk.Select(p => ShapesRenderer.Render(p.Scene, side))], device);
            var idx_Bl = vae.ImgToIdxBl(x).Select(t => t.to_type(ScalarType.Int32).cpu()).ToList();
            for (int i = 0; i < chunk.Count; i++)
                truth.Add([.. idx_Bl.Select(t => t[i].data<int>().ToArray())]);
        }
        return truth;
    }
}

/// <summary>
/// Counts greedy guesses of a scale's tokens against the truth: on all tokens, and on the "detail" tokens, those
/// whose truth is not the quantiser's plain (nothing-to-add) code. Ratios are NaN before anything is counted.
/// </summary>
public sealed class TokenAccuracy(long plainCode)
{
    long _total, _right, _detail, _detailRight, _predictedPlain;

    public void Add(IReadOnlyList<int> predicted, IReadOnlyList<int> expected)
    {
        if (predicted.Count != expected.Count) throw new ArgumentException($"{predicted.Count} guesses for {expected.Count} tokens.");
        for (int q = 0; q < expected.Count; q++)
        {
            _total++;
            bool hit = predicted[q] == expected[q];
            if (hit) _right++;
            if (predicted[q] == plainCode) _predictedPlain++;
            if (expected[q] != plainCode) { _detail++; if (hit) _detailRight++; }
        }
    }

    public long Tokens => _total;
    public double All => Ratio(_right, _total);
    public double DetailShare => Ratio(_detail, _total);
    public double Detail => Ratio(_detailRight, _detail);
    public double PredictedPlainShare => Ratio(_predictedPlain, _total);

    static double Ratio(long part, long whole) => whole == 0 ? double.NaN : (double)part / whole;
}
