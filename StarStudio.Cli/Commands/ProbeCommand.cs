using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StarStudio.Model.Presets;
using StarStudio.Model.Shapes;
using StarStudio.Model.Training;

namespace StarStudio.Cli.Commands;

/// <summary>
/// `starstudio probe`: is a scale's miss the model's or the data's? A small conv net learns the scale's codes from the
/// context the transformer is given (no prompt) and is scored beside the model's own greedy guesses (ScaleProbe).
/// </summary>
static class ProbeCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var scale = new Option<int?>("--scale") { Description = "Index of the scale to predict, 1..S-1 (default: the last, where a ShapesWorld picture gets its shapes)." };
        var scenes = new Option<int>("--scenes") { Description = "Training scenes the probe learns from.", DefaultValueFactory = _ => 8192 };
        var steps = new Option<int>("--steps") { Description = "Training steps of the probe.", DefaultValueFactory = _ => 1500 };
        var batch = new Option<int>("--batch") { Description = "Scenes per step.", DefaultValueFactory = _ => 64 };
        var width = new Option<int>("--width") { Description = "Channels of the probe's hidden convs.", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "3x3 convs, each followed by GELU (a 1x1 conv then gives the logits).", DefaultValueFactory = _ => 4 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (cosine to a tenth).", DefaultValueFactory = _ => 2e-3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the probe's weights and batches.", DefaultValueFactory = _ => 1 };
        var count = new Option<int>("--prompts") { Description = "Held-out prompts whose truths both the probe and the model guess.", DefaultValueFactory = _ => 300 };
        var dataSeed = new Option<int>("--data-seed") { Description = "Seed of the held-out prompt list.", DefaultValueFactory = _ => 0 };
        var cfg = new Option<double>("--cfg") { Description = "Guidance of the model's guided row (default: the model's recommended; its cfg 0 row is always printed)." };
        var codebookHead = new Option<int>("--codebook-head") { Description = "K > 0: score the codes by their distance to K predicted residuals in the codebook's space (a mixture of K Gaussians) instead of one weight row per code." };
        var batchEval = new Option<int>("--eval-batch") { Description = "Prompts per batch of the model's guesses.", DefaultValueFactory = _ => 25 };

        var cmd = new Command("probe", "Could the model know a scale's codes? A small conv net learns them from what the transformer is given (no prompt); its greedy accuracy on held-out truths beside the model's.");
        models.AddTo(cmd);
        foreach (var o in new Option[] { scale, scenes, steps, batch, width, layers, lr, seed, count, dataSeed, cfg, batchEval, codebookHead }) cmd.Options.Add(o);
        cmd.SetAction((p, ct) => Task.FromResult(CliErrors.Run(() =>
        {
            int n = p.GetValue(count);
            if (n < 1) throw new ArgumentException("--prompts must be at least 1.");
            using var model = models.Load(p);
            if (!model.Limits.TextConditional) throw new ArgumentException("The probe reads ShapesWorld truths: it needs a text-conditional (STAR) ShapesWorld model.");
            var patchNums = model.Transformer.PatchNums;
            var options = new ScaleProbeOptions(p.GetValue(scale) ?? patchNums.Count - 1, p.GetValue(scenes), p.GetValue(steps), p.GetValue(batch),
                p.GetValue(width), p.GetValue(layers), p.GetValue(lr), p.GetValue(seed), CodebookHead: p.GetValue(codebookHead));
            options.Validate(patchNums.Count);
            var prompts = new ShapesDataset(p.GetValue(dataSeed), ShapesSplit.HeldOut, model.Vae.Config.ImageSide).HeldOutPrompts(n);
            int pn = patchNums[options.Scale];

            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(model.Name)}: probing scale {options.Scale} ({pn}x{pn}) with {options.Layers} 3x3 convs of width {options.Width}" +
                                   (options.CodebookHead > 0 ? $" and a codebook head of {options.CodebookHead} component(s)" : "") + ", " +
                                   $"{options.Scenes} training scenes, {options.Steps} steps of {options.Batch}[/]");
            var d = model.Recommended ?? SamplingDefaults.General;
            double guided = p.ValueOr(cfg, d.Cfg);
            var weights = guided == 0 ? new[] { 0.0 } : new[] { 0.0, guided };
            // The model's own pictures, to judge them with the probe's guesses in place of the model's scale k.
            var generated = weights.Select(w => ($"{model.Name} at cfg {w.ToString(CultureInfo.InvariantCulture)}",
                ScaleDiagnosis.GeneratedTokens(model, prompts, new EvalSettings { Sampling = d with { Cfg = w }, Batch = p.GetValue(batchEval) }, ct))).ToList();
            var result = ScaleProbe.Run(model.Vae, prompts, options,
                (step, total, loss) => Console.Error.Write($"\r  probe step {step}/{total}, loss {loss:F3}"), ct, generated);
            Console.Error.WriteLine();

            var rows = new List<(string Reader, TokenAccuracy Accuracy)>
            {
                ($"conv probe, no prompt: {options.Scenes} training scenes (up to 1024)", result.Train),
                ("conv probe, no prompt: held-out truths", result.HeldOut),
            };
            foreach (double w in weights)
            {
                var settings = new EvalSettings { Sampling = d with { Cfg = w }, Batch = p.GetValue(batchEval) };
                rows.Add(($"{model.Name} greedy at cfg {w.ToString(CultureInfo.InvariantCulture)}: held-out truths",
                    ScaleDiagnosis.GreedyAccuracy(model, prompts, settings, options.Scale, ct)));
            }

            static string Pct(double v) => double.IsNaN(v) ? "-" : $"{v * 100:F1}%";
            Console.WriteLine($"Probe: {result.Parameters / 1e6:F2} M parameters, {result.Elapsed.TotalMinutes:F1} min, loss over its last tenth of steps {result.TrainLoss:F3} nats. " +
                              $"Detail tokens: the truth's tokens that are not code {model.Vae.Quantize.PreferredCode()} (plain, nothing to add): " +
                              $"{Pct(result.HeldOut.DetailShare)} of the held-out truths' {pn}x{pn} tokens.");
            Console.WriteLine($"| guesses of scale {options.Scale} ({pn}x{pn}), greedy | all tokens | detail tokens | guesses that are plain |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (reader, a) in rows)
                Console.WriteLine($"| {reader} | {Pct(a.All)} | **{Pct(a.Detail)}** | {Pct(a.PredictedPlainShare)} |");
            Console.WriteLine();
            Console.WriteLine($"ShapesEval of the {n} held-out truths with scale {options.Scale} ({pn}x{pn}) taken from the probe, every other scale true " +
                              $"(compare `eval --by-scale`, row k = {options.Scale}, for k = S-1; the tokenizer's ceiling with every scale true):");
            Console.WriteLine($"  greedy guesses: **{Pct(result.GreedyPictures.Overall)}** ({result.GreedyPictures.Passed} of {result.GreedyPictures.Total} pictures pass); " +
                              $"drawn from its softmax: **{Pct(result.SampledPictures.Overall)}** ({result.SampledPictures.Passed} of {result.SampledPictures.Total})");
            Console.WriteLine($"The model's own pictures (its settings otherwise; seeds 0..{n - 1}), as generated and with scale {options.Scale} replaced by the probe's greedy guesses from the model's own coarser scales:");
            Console.WriteLine("| pictures | as generated | with the probe's scale |");
            Console.WriteLine("|---|---:|---:|");
            foreach (var (label, asGenerated, withProbe) in result.ModelPictures)
                Console.WriteLine($"| {label} | {Pct(asGenerated.Overall)} | **{Pct(withProbe.Overall)}** |");
            return 0;
        })));
        return cmd;
    }
}
