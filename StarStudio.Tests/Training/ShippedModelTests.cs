using StarStudio.Cli;
using StarStudio.Model.Generation;
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

    static string? ShippedFolder()
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
        int rc, misuse;
        try
        {
            rc = await CliApp.RunAsync(["eval", "--tokenizer-ceiling", "--vqvae-run", run, "--preset", "tiny", "--prompts", "6", "--failures", ""]);
            misuse = await CliApp.RunAsync(["eval", "--vqvae-run", run, "--preset", "tiny", "--prompts", "6"]);
        }
        finally { Console.SetOut(previous); }
        Assert.Equal(0, rc);
        Assert.Contains("| **overall** (mean of categories) | 6 |", output.ToString());
        Assert.Equal(2, misuse);
    }
}
