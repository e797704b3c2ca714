using StarStudio.Cli;
using StarStudio.Model.Generation;
using StarStudio.Model.Presets;
using StarStudio.Model.Imaging;
using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Training;

/// <summary>The embedded model in models/shapes-star and the train/data CLI commands.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class ShippedModelTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "starstudio-shipped-" + Guid.NewGuid().ToString("N"));
    public ShippedModelTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string? ShippedFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models", "shapes-star");
            if (File.Exists(Path.Combine(candidate, "model.json"))) return candidate;
        }
        return null;
    }

    [Fact]
    public void ShippedModel_IsFoundBesideTheBinariesLoadsAndGeneratesA64PixelImage()
    {
        var folder = ShippedFolder();
        Assert.SkipWhen(folder is null, "models/shapes-star is not in this checkout yet.");
        // The Model project copies the folder next to the binaries, so a published app finds it without the repository.
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "models", "shapes-star", "model.json")));
        long bytes = Directory.GetFiles(folder!).Sum(f => new FileInfo(f).Length);
        Assert.True(bytes <= 30L * 1024 * 1024, $"{bytes} bytes");
        using var model = ModelStore.Load(folder!);
        Assert.NotNull(model.SamplerHead);
        Assert.Equal(8, model.Transformer.PatchNums.Count);
        // Its model.json recommends the best setting ShapesEval measured (cfg 8), which the app starts from.
        Assert.Equal(new Model.Presets.SamplingDefaults(Cfg: 8, TopK: 0, TopP: 0.8), model.Recommended);
        var frames = new GenerationPipeline(model).Generate(new GenerationRequest
        {
            Prompts = ["a red circle on a blue background", "a dog"], Seed = 1, Cfg = 4, Previews = PreviewMode.Full,
        }).ToList();
        Assert.Equal(8, frames.Count);
        Assert.All(frames, f => Assert.Equal(2, f.Images!.Count));
        Assert.Equal((64, 64), (frames[^1].Images![0].Width, frames[^1].Images![0].Height));
        Assert.Contains(frames[0].Notices, n => n.Contains("'dog'"));
        // It reads the prompt: ShapesEval finds the blue background (backgrounds held in 99% of held-out prompts).
        var verdicts = ShapesEvaluator.Evaluate(frames[^1].Images![0], PromptClaims.Parse("a red circle on a blue background")).Verdicts;
        Assert.True(verdicts.Single(v => v.Kind == ClaimKind.Background).Passed, string.Join("; ", verdicts));
    }

    [Fact]
    public async Task DataPreview_WritesAContactSheetOfTheRequestedSamples()
    {
        var png = Path.Combine(_dir, "sheet.png");
        int rc = await CliApp.RunAsync(["data", "preview", "--out", png, "--count", "5", "--columns", "5", "--seed", "3"]);
        Assert.Equal(0, rc);
        var (w, h) = ContactSheet.Measure(5, 5);
        var img = PngWriter.Decode(File.ReadAllBytes(png));
        Assert.Equal((w, h), (img.Width, img.Height));
    }

    [Fact]
    public async Task TrainVqVae_TinyRunWritesACheckpointAndResumesToItsTotal()
    {
        var run = Path.Combine(_dir, "run");
        Assert.Equal(0, await CliApp.RunAsync(["train", "vqvae", "--preset", "tiny", "--run", run, "--steps", "3", "--batch", "2", "--max-steps", "2", "--sample-every", "0", "--threads", "0"]));
        Assert.Equal(2, Model.Training.TrainerBase.ReadInfo(Path.Combine(run, "vqvae"))!.Step);
        Assert.Equal(0, await CliApp.RunAsync(["train", "vqvae", "--preset", "tiny", "--run", run, "--steps", "3", "--batch", "2", "--sample-every", "0", "--threads", "0"]));
        Assert.Equal(3, Model.Training.TrainerBase.ReadInfo(Path.Combine(run, "vqvae"))!.Step);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "vqvae", "losses.csv")).Length);
        Assert.True(File.Exists(Path.Combine(run, "vqvae", "loss_curve.png")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(run, "vqvae"), "samples_step*.png"));

        // --fresh starts over without leaving the old run's sample grids behind.
        Assert.Equal(0, await CliApp.RunAsync(["train", "vqvae", "--preset", "tiny", "--run", run, "--steps", "1", "--batch", "2", "--sample-every", "0", "--threads", "0", "--fresh"]));
        Assert.Equal(1, Model.Training.TrainerBase.ReadInfo(Path.Combine(run, "vqvae"))!.Step);
        Assert.Equal(["samples_step000001.png"], Directory.GetFiles(Path.Combine(run, "vqvae"), "samples_step*.png").Select(Path.GetFileName));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(run, "vqvae", "losses.csv")).Length);

        // The run's tokenizer can be judged before any transformer exists.
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        int rc, misuse, jitterMisuse;
        try
        {
            rc = await CliApp.RunAsync(["eval", "--tokenizer-ceiling", "--vqvae-run", run, "--preset", "tiny", "--prompts", "6", "--failures", ""]);
            misuse = await CliApp.RunAsync(["eval", "--vqvae-run", run, "--preset", "tiny", "--prompts", "6"]);
            // The jitter changes only the ground truth, which plain ShapesEval never renders.
            jitterMisuse = await CliApp.RunAsync(["eval", "--random", "tiny-star", "--truth-jitter", "0", "--prompts", "6"]);
        }
        finally { Console.SetOut(previous); }
        Assert.Equal(0, rc);
        Assert.Contains("| **overall** (mean of categories) | 6 |", output.ToString());
        Assert.Equal(2, misuse);
        Assert.Equal(2, jitterMisuse);
    }

    [Fact]
    public void ScaleDiagnosis_WithEveryScaleGivenIsTheTokenizerCeilingAndItsRowsAreRealRates()
    {
        var folder = ShippedFolder();
        Assert.SkipWhen(folder is null, "models/shapes-star is not in this checkout yet.");
        using var model = ModelStore.Load(folder!);
        var prompts = new ShapesDataset(0, ShapesSplit.HeldOut, 64).HeldOutPrompts(6);
        var report = Model.Training.ScaleDiagnosis.Run(model, prompts, new Model.Training.EvalSettings { Sampling = SamplingDefaults.General with { Cfg = 4 }, Batch = 4 }, keepPictures: 3);

        Assert.Equal(Enumerable.Range(0, 9), report.Rows.Select(r => r.GivenScales));
        Assert.Equal([1, 2, 3, 4, 6, 8, 12, 16, 0], report.Rows.Select(r => r.Side));
        Assert.All(report.Pictures, row => Assert.Equal(3, row.Count));
        // Every scale given: the picture is the VQ-VAE's reconstruction of the truth, pixel for pixel, so the row
        // scores exactly the tokenizer's ceiling.
        var ceiling = Model.Training.ModelEvaluation.TokenizerCeiling(model, prompts, batch: 4);
        Assert.Equal(ceiling.Table.Passed, report.Rows[^1].Eval.Passed);
        for (int i = 0; i < 3; i++)
            Assert.Equal(ceiling.Results[i].Image.Pixels, report.Pictures[^1][i].Pixels);
        Assert.True(double.IsNaN(report.Rows[^1].TokenAccuracy));
        foreach (var r in report.Rows.SkipLast(1))
        {
            Assert.InRange(r.TokenAccuracy, 0, 1);
            Assert.InRange(r.DetailShare, 0, 1);
            Assert.InRange(r.PredictedPlainShare, 0, 1);
        }
        // The 1x1 token carries the background colour, which the shipped model reads from the prompt (86% of 150
        // held-out prompts; at least half of these 6), and it is almost never the plain code.
        Assert.True(report.Rows[0].TokenAccuracy >= 0.5, $"{report.Rows[0].TokenAccuracy}");
        Assert.True(report.Rows[0].DetailShare >= 0.5, $"{report.Rows[0].DetailShare}");
        // Finer scales over flat backgrounds are mostly the plain code (61-86% at 2x2..16x16).
        Assert.True(report.Rows[7].DetailShare < 0.6, $"{report.Rows[7].DetailShare}");
    }

    [Fact]
    public async Task TokenizerCeilingByScale_JudgesEveryPartialPyramidAndEndsAtTheCeiling()
    {
        var folder = ShippedFolder();
        Assert.SkipWhen(folder is null, "models/shapes-star is not in this checkout yet.");
        using var model = ModelStore.Load(folder!);
        var prompts = new ShapesDataset(0, ShapesSplit.HeldOut, 64).HeldOutPrompts(12);
        var partial = Model.Training.ModelEvaluation.TokenizerCeilingByScale(model.Vae, prompts, batch: 5);
        var ceiling = Model.Training.ModelEvaluation.TokenizerCeiling(model.Vae, prompts, batch: 5);

        Assert.Equal(8, partial.Count);
        Assert.All(partial, r => Assert.Equal(12, r.Table.Total));
        // All scales kept is the ceiling, picture for picture.
        for (int i = 0; i < prompts.Count; i++)
            Assert.Equal(ceiling.Results[i].Image.Pixels, partial[^1].Results[i].Image.Pixels);
        // The 1x1 scale alone is one flat colour, which holds no object: every prompt asks for one.
        Assert.Equal(0, partial[0].Table.Passed);
        // The shipped tokenizer draws shapes only at its last scale (12x12 kept: 17% of 300 prompts; all: 87%).
        Assert.True(partial[^1].Table.Passed > partial[^2].Table.Passed, $"{partial[^1].Table.Passed} vs {partial[^2].Table.Passed}");

        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        int rc;
        var png = Path.Combine(_dir, "partial_pyramids.png");
        try { rc = await CliApp.RunAsync(["eval", "--tokenizer-ceiling", "--by-scale", "--prompts", "3", "--failures", "", "--by-scale-sheet", png]); }
        finally { Console.SetOut(previous); }
        Assert.Equal(0, rc);
        Assert.Contains("| 1 | 1x1 |", output.ToString());
        Assert.Contains("| 8 | 16x16 |", output.ToString());
        // The truth on top, then its reconstructions from the first 1..8 scales: nine rows of the three prompts.
        var (w, h) = ContactSheet.Measure(27, 3, 128);
        var img = PngWriter.Decode(File.ReadAllBytes(png));
        Assert.Equal((w, h), (img.Width, img.Height));
    }

    [Fact]
    public async Task EvalByScale_PrintsTheTableAndDrawsOneRowOfPicturesPerK()
    {
        Assert.SkipWhen(ShippedFolder() is null, "models/shapes-star is not in this checkout yet.");
        var png = Path.Combine(_dir, "by_scale.png");
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        int rc, misuse;
        try
        {
            rc = await CliApp.RunAsync(["eval", "--by-scale", "--prompts", "2", "--batch", "2", "--by-scale-sheet", png]);
            misuse = await CliApp.RunAsync(["eval", "--by-scale", "--compare", "--prompts", "2"]);
        }
        finally { Console.SetOut(previous); }
        Assert.Equal(0, rc);
        Assert.Equal(2, misuse);
        var text = output.ToString();
        Assert.Contains("| 0 | 1x1 |", text);
        Assert.Contains("| 7 | 16x16 |", text);
        Assert.Contains("| 8 | (all given: the tokenizer's ceiling) |", text);
        // The truth on top, then k = 0..8: ten rows of the two prompts.
        var (w, h) = ContactSheet.Measure(20, 2, 128);
        var img = PngWriter.Decode(File.ReadAllBytes(png));
        Assert.Equal((w, h), (img.Width, img.Height));
    }
}
