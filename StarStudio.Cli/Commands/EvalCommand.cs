using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Model.Presets;
using StarStudio.Model.Sampling;
using StarStudio.Model.Shapes;
using StarStudio.Model.Training;

namespace StarStudio.Cli.Commands;

/// <summary>`starstudio eval`: ShapesEval accuracy per category on held-out prompts, time per image, failure grid.</summary>
static class EvalCommand
{
    // Two defaults, so a model's sheet and its tokenizer's ceiling sheet, run one after the other, do not overwrite each other.
    const string ModelSheet = "eval_by_scale.png", TokenizerSheet = "eval_tokenizer_by_scale.png";

    public static Command Create()
    {
        var models = new ModelOptions();
        var count = new Option<int>("--prompts") { Description = "Held-out prompts to generate (categories in turn).", DefaultValueFactory = _ => 300 };
        var cfg = new Option<double>("--cfg") { Description = "Guidance weight at the last scale (0 = guidance-free); sampling options not given follow the model's recommended settings.", DefaultValueFactory = _ => 4.0 };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = off).", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass (0 = off).", DefaultValueFactory = _ => 0.8 };
        var smooth = new Option<bool>("--more-smooth") { Description = "Gumbel-softmax mixture of codebook vectors; top-k/top-p then do not apply (as in VAR). '--more-smooth false' overrides a model that recommends it." };
        var stable = new Option<bool>("--stable") { Description = "STAR's stable sampler (needs a sampler head); '--stable false' overrides a model that recommends it." };
        var version = new Option<StableSamplerVersion>("--sampler-version") { Description = "Stable sampler schedule: V1024 (the reference's default: the main head commits the first 5 steps of each scale) or Standard (the sampler head commits every step).", DefaultValueFactory = _ => StableSamplerVersion.V1024 };
        var seed = new Option<long>("--seed") { Description = "Prompt i uses seed SEED+i.", DefaultValueFactory = _ => 0 };
        var dataSeed = new Option<int>("--data-seed") { Description = "Seed of the held-out prompt list.", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Prompts per generation batch.", DefaultValueFactory = _ => 25 };
        var failures = new Option<string?>("--failures") { Description = "PNG grid of failed prompts (with what went wrong).", DefaultValueFactory = _ => "eval_failures.png" };
        var latency = new Option<int>("--latency-runs") { Description = "Also time one image with every preview decoded (median of N runs; 0 = skip).", DefaultValueFactory = _ => 0 };
        var groundTruth = new Option<bool>("--ground-truth") { Description = "Validate the evaluator itself on the generator's own renders of the prompts (no model needed)." };
        var ceiling = new Option<bool>("--tokenizer-ceiling") { Description = "Judge the model's VQ-VAE reconstructions of the ground-truth renders: the best any transformer could score with this tokenizer." };
        var vqvaeRun = new Option<string?>("--vqvae-run") { Description = "With --tokenizer-ceiling: judge the VQ-VAE of this training run's vqvae stage instead of a model's (needs --preset)." };
        var preset = new Option<string>("--preset") { Description = "With --vqvae-run: the run's training preset.", DefaultValueFactory = _ => "shapes" };
        var diagnose = new Option<bool>("--by-scale") { Description = "Where the model loses the picture: for k = 0..S, hand it the ground truth's first k scales, then score its greedy guess of scale k (all tokens, and the detail tokens that are not the plain code) and ShapesEval of what it generates from there. With --tokenizer-ceiling: the ceiling of the first k scales alone, for every k." };
        var sheet = new Option<string?>("--by-scale-sheet") { Description = $"With --by-scale: PNG of the first 8 prompts, one row per k (the ground truth on top; default {ModelSheet}); with --tokenizer-ceiling --by-scale, their reconstructions from the first k scales (default {TokenizerSheet}). \"\" for none." };
        var truthJitter = new Option<float>("--truth-jitter") { Description = "Offsets of the ground-truth scenes that --tokenizer-ceiling and --by-scale tokenize (generation reads only the prompts, which do not change): 1 = ShapesWorld's full play, 0 = every object at its cell's centre (the shapes-centred preset's generator data).", DefaultValueFactory = _ => 1f };
        var compare = new Option<bool>("--compare") { Description = "Evaluate a grid of settings (standard vs stable with both schedules, cfg 0/2/4/6, more-smooth on/off) and print them side by side." };

        var cmd = new Command("eval", "ShapesEval: generate held-out ShapesWorld prompts and check every claim (per-category accuracy, time per image, failure grid).");
        models.AddTo(cmd);
        foreach (var o in new Option[] { count, cfg, topK, topP, smooth, stable, version, seed, dataSeed, batch, failures, latency, compare, diagnose, sheet, groundTruth, ceiling, vqvaeRun, preset, truthJitter }) cmd.Options.Add(o);
        cmd.SetAction((p, ct) => Task.FromResult(CliErrors.Run(() =>
        {
            if (p.GetValue(groundTruth))
            {
                var table = ShapesEvaluator.ValidateOnGroundTruth(p.GetValue(count), p.GetValue(dataSeed));
                AnsiConsole.MarkupLine($"[grey]ShapesEval on {table.Total} ground-truth renders (64x64, data seed {p.GetValue(dataSeed)})[/]");
                Console.WriteLine(table.ToMarkdown());
                return 0;
            }
            int n = p.GetValue(count);
            if (n < 1) throw new ArgumentException("--prompts must be at least 1.");
            if (p.GetValue(vqvaeRun) is not null && !p.GetValue(ceiling)) throw new ArgumentException("--vqvae-run only goes with --tokenizer-ceiling.");
            // Plain ShapesEval reads only the prompts, which the jitter does not change: the option would do nothing there.
            if (p.GetValue(truthJitter) != 1f && !p.GetValue(ceiling) && !p.GetValue(diagnose))
                throw new ArgumentException("--truth-jitter only goes with --tokenizer-ceiling or --by-scale (plain ShapesEval reads only the prompts).");
            if (p.GetValue(ceiling))
            {
                // A training run's VQ-VAE (before any transformer exists) or the model's.
                using var runVae = p.GetValue(vqvaeRun) is { } run ? VqVaeTrainer.LoadTrained(run, ShapesModelPreset.ByName(p.GetValue(preset)!)) : null;
                using var ceilingModel = runVae is null ? models.Load(p) : null;
                var vae = runVae ?? ceilingModel!.Vae;
                var ceilingPrompts = new ShapesDataset(p.GetValue(dataSeed), ShapesSplit.HeldOut, vae.Config.ImageSide, p.GetValue(truthJitter)).HeldOutPrompts(n);
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(p.GetValue(vqvaeRun) ?? ceilingModel!.Name)}: VQ-VAE reconstructions of {n} ground-truth renders[/]");
                if (p.GetValue(diagnose))
                {
                    // --tokenizer-ceiling --by-scale: the ceiling of every partial pyramid, the finer scales left out.
                    var partial = ModelEvaluation.TokenizerCeilingByScale(vae, ceilingPrompts, p.GetValue(batch));
                    PrintPartialCeilings(partial, vae.Quantize.VPatchNums);
                    if ((p.GetValue(sheet) ?? TokenizerSheet) is { Length: > 0 } partialSheet)
                    {
                        // The first 8 prompts: the truth on top, then its reconstruction from the first k scales, one row per k.
                        var patchNums = vae.Quantize.VPatchNums;
                        int shown = Math.Min(8, ceilingPrompts.Count);
                        ScaleDiagnosis.WriteRows(partialSheet, ceilingPrompts, vae.Config.ImageSide, partial.Select((r, k) =>
                            ($"through {patchNums[k]}x{patchNums[k]}", (IReadOnlyList<RgbImage>)[.. r.Results.Take(shown).Select(e => e.Image)])));
                        AnsiConsole.MarkupLine($"Partial pyramids drawn to [bold]{Markup.Escape(partialSheet)}[/]");
                    }
                    if (p.GetValue(failures) is { Length: > 0 } partialFailures) ModelEvaluation.WriteFailures(partialFailures, partial[^1]);
                    return 0;
                }
                var ceilingReport = ModelEvaluation.TokenizerCeiling(vae, ceilingPrompts, p.GetValue(batch));
                PrintTable(ceilingReport);
                if (p.GetValue(failures) is { Length: > 0 } ceilingFailures) ModelEvaluation.WriteFailures(ceilingFailures, ceilingReport);
                return 0;
            }
            using var model = models.Load(p);
            if (!model.Limits.TextConditional) throw new ArgumentException("ShapesEval needs a text-conditional (STAR) model.");
            int side = model.Vae.Config.ImageSide;
            var prompts = new ShapesDataset(p.GetValue(dataSeed), ShapesSplit.HeldOut, side, p.GetValue(truthJitter)).HeldOutPrompts(n);
            // Options not given fall back to the model's recommended settings (model.json "sampling"), as in the app.
            var d = model.Recommended ?? SamplingDefaults.General;
            var baseSettings = new EvalSettings
            {
                Sampling = new SamplingDefaults(p.ValueOr(cfg, d.Cfg), p.ValueOr(topK, d.TopK), p.ValueOr(topP, d.TopP),
                    p.ValueOr(smooth, d.MoreSmooth), p.ValueOr(stable, d.StableSampling), p.ValueOr(version, d.StableSamplerVersion)),
                Seed = p.GetValue(seed), Batch = p.GetValue(batch),
            };
            if (p.GetValue(diagnose))
            {
                if (p.GetValue(compare)) throw new ArgumentException("--by-scale and --compare do not go together: run them one after the other.");
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(model.Name)}: {n} held-out prompts, {Markup.Escape(baseSettings.ToString())}, the ground truth's first k scales given[/]");
                var diagnosis = ScaleDiagnosis.Run(model, prompts, baseSettings, progress: (done, total) => Console.Error.Write($"\r  k = {done - 1} of {total - 1} done"), cancellationToken: ct);
                Console.Error.WriteLine();
                PrintDiagnosis(diagnosis);
                if ((p.GetValue(sheet) ?? ModelSheet) is { Length: > 0 } sheetPath)
                {
                    ScaleDiagnosis.WriteSheet(sheetPath, diagnosis, prompts, side);
                    AnsiConsole.MarkupLine($"Pictures by k drawn to [bold]{Markup.Escape(sheetPath)}[/]");
                }
                return 0;
            }
            var settings = p.GetValue(compare) ? CompareGrid(baseSettings, model.SamplerHead is not null) : [baseSettings];
            var reports = new List<EvalReport>();
            foreach (var s in settings)
            {
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(model.Name)}: {n} held-out prompts, {Markup.Escape(s.ToString())}[/]");
                var report = ModelEvaluation.Run(model, prompts, s, (done, total) =>
                {
                    if (done == total || done % 100 < s.Batch) Console.Error.Write($"\r  {done}/{total}");
                }, ct);
                Console.Error.WriteLine();
                reports.Add(report);
                if (settings.Count == 1) PrintTable(report);
                else AnsiConsole.MarkupLine($"  overall [bold]{report.Table.Overall:P1}[/], min category {report.Table.Minimum:P1}, {report.MsPerImage:F1} ms/image");
            }
            if (settings.Count > 1) PrintComparison(reports);
            if (p.GetValue(failures) is { Length: > 0 } failPath)
            {
                int written = ModelEvaluation.WriteFailures(failPath, reports[0]);
                AnsiConsole.MarkupLine(written == 0 ? "No failures." : $"{written} failures of the first setting drawn to [bold]{Markup.Escape(failPath)}[/]");
            }
            if (p.GetValue(latency) is > 0 and var runs)
            {
                var lat = ModelEvaluation.Latency(model, prompts[0].Prompt, baseSettings, runs);
                AnsiConsole.MarkupLine($"one image, every preview decoded ({baseSettings}): median [bold]{lat.MedianTotalMs:F1} ms[/] (min {lat.MinTotalMs:F1}), first preview after median [bold]{lat.MedianFirstPreviewMs:F1} ms[/], {lat.Runs} runs");
            }
            return 0;
        })));
        return cmd;
    }

    static List<EvalSettings> CompareGrid(EvalSettings b, bool stable)
    {
        var list = new List<EvalSettings>();
        EvalSettings With(double? cfg = null, bool smooth = false, bool stable = false, StableSamplerVersion? version = null) =>
            b with { Sampling = b.Sampling with { Cfg = cfg ?? b.Sampling.Cfg, MoreSmooth = smooth, StableSampling = stable, StableSamplerVersion = version ?? b.Sampling.StableSamplerVersion } };
        foreach (var c in new[] { 0.0, 2.0, 4.0, 6.0 }) list.Add(With(cfg: c));
        list.Add(With(smooth: true));
        if (stable)
        {
            foreach (var v in new[] { StableSamplerVersion.V1024, StableSamplerVersion.Standard })
                foreach (var c in new[] { 0.0, 4.0 }) list.Add(With(cfg: c, stable: true, version: v));
        }
        return list;
    }

    static void PrintTable(EvalReport r)
    {
        var table = new Table().AddColumns("category", "images", "passed", "accuracy");
        foreach (var c in r.Table.Categories)
            table.AddRow(ShapesEvalTable.CategoryName(c.Category), $"{c.Total}", $"{c.Passed}", $"{c.Accuracy:P1}");
        table.AddRow("[bold]overall[/] (mean of categories)", $"{r.Table.Total}", $"{r.Table.Passed}", $"[bold]{r.Table.Overall:P1}[/]");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{r.MsPerImage.ToString("F1", CultureInfo.InvariantCulture)} ms per image (batches of {r.Settings.Batch}, final image only)");
        Console.WriteLine(r.Table.ToMarkdown());
        Console.WriteLine("claims that held: " + string.Join(", ", ShapesEvaluator.ClaimRates(r.Results)
            .Select(c => $"{c.Kind.ToString().ToLowerInvariant()} {c.Held}/{c.Total} ({100.0 * c.Held / c.Total:F1}%)")));
        Console.WriteLine(ShapesEvaluator.ObjectCounts(r.Results));
    }

    static void PrintPartialCeilings(IReadOnlyList<EvalReport> partial, IReadOnlyList<int> patchNums)
    {
        var categories = partial[0].Table.Categories;
        Console.WriteLine("The tokenizer's ceiling from the first k scales alone (the finer ones left out):");
        Console.WriteLine($"| scales kept | last kept | {string.Join(" | ", categories.Select(c => ShapesEvalTable.CategoryName(c.Category)))} | object claims | **overall** |");
        Console.WriteLine($"|---:|---:|{string.Concat(categories.Select(_ => "---:|"))}---:|---:|");
        for (int k = 0; k < partial.Count; k++)
        {
            var r = partial[k];
            var objects = ShapesEvaluator.ClaimRates(r.Results).Where(c => c.Kind == ClaimKind.Object).ToList();
            string objectRate = objects is [{ Total: > 0 } o] ? $"{100.0 * o.Held / o.Total:F1}%" : "-";
            Console.WriteLine($"| {k + 1} | {patchNums[k]}x{patchNums[k]} | {string.Join(" | ", r.Table.Categories.Select(c => $"{c.Accuracy * 100:F1}%"))} | {objectRate} | **{r.Table.Overall * 100:F1}%** |");
        }
    }

    static void PrintDiagnosis(ScaleDiagnosisReport d)
    {
        static string Pct(double v) => double.IsNaN(v) ? "-" : $"{v * 100:F1}%";
        Console.WriteLine($"Detail tokens: those that are not code {d.PreferredCode}, the VQ-VAE's plain (nothing-to-add) code.");
        Console.WriteLine("| scales given | next scale | greedy token accuracy | detail tokens | detail accuracy | predicted plain | ShapesEval from there |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in d.Rows)
        {
            var next = r.Side > 0 ? $"{r.Side}x{r.Side}" : "(all given: the tokenizer's ceiling)";
            Console.WriteLine($"| {r.GivenScales} | {next} | {Pct(r.TokenAccuracy)} | {Pct(r.DetailShare)} | {Pct(r.DetailAccuracy)} | {Pct(r.PredictedPlainShare)} | **{r.Eval.Overall * 100:F1}%** |");
        }
    }

    static void PrintComparison(IReadOnlyList<EvalReport> reports)
    {
        var cats = reports[0].Table.Categories.Select(c => c.Category).ToList();
        var header = "| settings | " + string.Join(" | ", cats.Select(ShapesEvalTable.CategoryName)) + " | overall | ms/image |";
        Console.WriteLine(header);
        Console.WriteLine("|---|" + string.Concat(cats.Select(_ => "---:|")) + "---:|---:|");
        foreach (var r in reports)
        {
            var accs = cats.Select(c => r.Table.Categories.First(x => x.Category == c).Accuracy);
            Console.WriteLine($"| {r.Settings} | " + string.Join(" | ", accs.Select(a => $"{a * 100:F1}%")) + $" | **{r.Table.Overall * 100:F1}%** | {r.MsPerImage:F1} |");
        }
        Console.WriteLine();
        var kinds = reports[0].Results.SelectMany(x => x.Result.Verdicts).Select(v => v.Kind).Distinct().Order().ToList();
        Console.WriteLine("| settings: claims that held | " + string.Join(" | ", kinds.Select(k => k.ToString().ToLowerInvariant())) + " |");
        Console.WriteLine("|---|" + string.Concat(kinds.Select(_ => "---:|")));
        foreach (var r in reports)
        {
            var rates = ShapesEvaluator.ClaimRates(r.Results).ToDictionary(c => c.Kind);
            Console.WriteLine($"| {r.Settings} | " + string.Join(" | ", kinds.Select(k => rates.TryGetValue(k, out var c) ? $"{100.0 * c.Held / c.Total:F1}%" : "-")) + " |");
        }
    }
}
