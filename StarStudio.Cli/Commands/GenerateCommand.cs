using System.CommandLine;
using Spectre.Console;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using StarStudio.Model.Presets;
using StarStudio.Model.Imaging;
using StarStudio.Model.Sampling;

namespace StarStudio.Cli.Commands;

static class GenerateCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var prompt = new Option<string[]>("--prompt", "-p") { Description = "Prompt (repeat for a batch of prompts; \"\" is unconditional).", AllowMultipleArgumentsPerToken = false };
        var negative = new Option<string?>("--negative", "-n") { Description = "Negative prompt: replaces the empty prompt of classifier-free guidance." };
        var classes = new Option<int[]>("--class", "-c") { Description = "Class label for class-conditional (VAR) models (repeat for a batch)." };
        var batch = new Option<int>("--batch", "-b") { Description = "Images per prompt (seeds seed, seed+1, ...).", DefaultValueFactory = _ => 1 };
        var seed = new Option<long>("--seed", "-s") { Description = "Seed (0 to 2^63-1); the same seed gives the same image on the same device.", DefaultValueFactory = _ => 0 };
        var cfg = new Option<double>("--cfg") { Description = "Guidance weight at the last scale (0 = guidance-free, half the compute).", DefaultValueFactory = _ => 4.0 };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = off).", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass (0 = off).", DefaultValueFactory = _ => 0.8 };
        var smooth = new Option<bool>("--more-smooth") { Description = "Gumbel-softmax mixture of codebook vectors (VAR's more_smooth); top-k/top-p then do not apply. '--more-smooth false' overrides a model that recommends it." };
        var stable = new Option<bool>("--stable") { Description = "STAR's causal-driven stable sampling (needs a model with a sampler head); '--stable false' overrides a model that recommends it." };
        var version = new Option<StableSamplerVersion>("--sampler-version") { Description = "Stable sampler schedule: V1024 (default) or Standard.", DefaultValueFactory = _ => StableSamplerVersion.V1024 };
        var output = new Option<string>("--out", "-o") { Description = "Output PNG (a batch gets -0, -1, ... suffixes).", DefaultValueFactory = _ => "starstudio.png" };
        var frames = new Option<string?>("--frames") { Description = "Folder for one PNG per scale (the coarse-to-fine story)." };
        var previews = new Option<PreviewMode>("--previews") { Description = "Per-scale previews: Auto, Full, Reduced, Approximate or None (the final image is always fully decoded).", DefaultValueFactory = _ => PreviewMode.Auto };

        var cmd = new Command("generate", "Generate images, showing progress scale by scale.");
        models.AddTo(cmd);
        foreach (var o in new Option[] { prompt, negative, classes, batch, seed, cfg, topK, topP, smooth, stable, version, output, frames, previews })
            cmd.Options.Add(o);

        cmd.SetAction((p, ct) => Task.FromResult(CliErrors.Run(() =>
        {
            using var model = models.Load(p);
            int perPrompt = p.GetValue(batch);
            if (perPrompt < 1) throw new ArgumentException("--batch must be at least 1.");
            var prompts = (p.GetValue(prompt) ?? []).SelectMany(x => Enumerable.Repeat(x, perPrompt)).ToList();
            var labels = (p.GetValue(classes) ?? []).SelectMany(x => Enumerable.Repeat(x, perPrompt)).ToList();
            if (model.Limits.TextConditional && prompts.Count == 0) prompts = Enumerable.Repeat("", perPrompt).ToList();
            var request = new GenerationRequest
            {
                Prompts = prompts,
                NegativePrompt = p.GetValue(negative),
                ClassLabels = labels,
                Seed = p.GetValue(seed),
                Cfg = p.GetValue(cfg),
                TopK = p.GetValue(topK),
                TopP = p.GetValue(topP),
                MoreSmooth = p.GetValue(smooth),
                StableSampling = p.GetValue(stable),
                StableSamplerVersion = p.GetValue(version),
                Previews = p.GetValue(frames) is not null && p.GetValue(previews) == PreviewMode.None ? PreviewMode.Auto : p.GetValue(previews),
            };
            // A model samples with its recommended settings (model.json "sampling", or an official preset's: the
            // authors' demo) unless told otherwise.
            if (model.Recommended is { } d)
            {
                request = request with
                {
                    Cfg = p.ValueOr(cfg, d.Cfg),
                    TopK = p.ValueOr(topK, d.TopK),
                    TopP = p.ValueOr(topP, d.TopP),
                    MoreSmooth = p.ValueOr(smooth, d.MoreSmooth),
                    StableSampling = p.ValueOr(stable, d.StableSampling),
                    StableSamplerVersion = p.ValueOr(version, d.StableSamplerVersion),
                };
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape($"Sampling with cfg {request.Cfg}, top-k {request.TopK}, top-p {request.TopP}{(request.MoreSmooth ? ", more smooth" : "")}{(request.StableSampling ? ", stable sampling" : "")} ({model.Name}'s recommended settings for options not given).")}[/]");
            }
            var frameDir = p.GetValue(frames);
            if (frameDir is not null) Directory.CreateDirectory(frameDir);
            return Run(model, request, p.GetValue(output)!, frameDir, ct);
        })));
        return cmd;
    }

    static int Run(ScaleWiseModel model, GenerationRequest request, string output, string? frameDir, CancellationToken ct)
    {
        var pipeline = new GenerationPipeline(model);
        ScaleFrame? last = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"[green]{Markup.Escape(model.Name)}[/]", maxValue: model.Limits.ScaleCount);
                foreach (var frame in pipeline.Generate(request, ct))
                {
                    foreach (var notice in frame.Notices) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(notice)}[/]");
                    task.Description = $"[green]scale {frame.ScaleIndex + 1}/{frame.ScaleCount}[/] {frame.Side}x{frame.Side} ({frame.Timings.TransformerMs + frame.Timings.SamplingMs + frame.Timings.DecodeMs:F0} ms)";
                    task.Increment(1);
                    if (frameDir is not null && frame.Images is { } previews)
                        for (int b = 0; b < previews.Count; b++)
                            File.WriteAllBytes(Path.Combine(frameDir, $"{Stem(b, request.Rows)}scale-{frame.ScaleIndex + 1:D2}-{frame.Side}x{frame.Side}.png"), PngWriter.Encode(previews[b]));
                    last = frame;
                }
            });
        for (int b = 0; b < request.Rows; b++)
        {
            var meta = GenerationMetadata.For(request, b, model.Name, model.Transformer.PatchNums, last!.Timings.ElapsedMs);
            string path = request.Rows == 1 ? output : Path.Combine(Path.GetDirectoryName(output) ?? "", $"{Path.GetFileNameWithoutExtension(output)}-{b}{Path.GetExtension(output)}");
            File.WriteAllBytes(path, PngWriter.Encode(last.Images![b], meta.ToPngText()));
            AnsiConsole.MarkupLine($"Wrote [blue]{Markup.Escape(path)}[/] (seed {meta.Seed}, {last.Timings.ElapsedMs:F0} ms)");
        }
        return 0;
    }

    static string Stem(int row, int rows) => rows == 1 ? "" : $"image-{row}-";
}
