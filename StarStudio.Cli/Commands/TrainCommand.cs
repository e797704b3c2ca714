using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StarStudio.Model.Training;

namespace StarStudio.Cli.Commands;

/// <summary>`starstudio train vqvae|star|sampler|export` and `starstudio train --preset shapes` (all stages, then export).</summary>
static class TrainCommand
{
    sealed class StageOptions
    {
        public readonly Option<string> Run = new("--run") { Description = "Run folder (checkpoints, losses.csv, loss_curve.png, sample grids per stage).", DefaultValueFactory = _ => Path.Combine("runs", "shapes") };
        public readonly Option<string> Preset = new("--preset") { Description = $"Model sizes: {ShapesModelPreset.Catalogue}.", DefaultValueFactory = _ => "shapes" };
        public readonly Option<int?> Steps = new("--steps") { Description = "Total steps of the stage (resumed runs continue up to it)." };
        public readonly Option<int?> Batch = new("--batch") { Description = "Batch size." };
        public readonly Option<double?> Lr = new("--lr") { Description = "Peak learning rate." };
        public readonly Option<long> Seed = new("--seed") { Description = "Seed of data order and random draws.", DefaultValueFactory = _ => 1 };
        public readonly Option<int> CheckpointEvery = new("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => 50 };
        public readonly Option<int> SampleEvery = new("--sample-every") { Description = "Steps between sample grids (0 = only at the end).", DefaultValueFactory = _ => 250 };
        public readonly Option<int?> MaxSteps = new("--max-steps") { Description = "Stop after this many steps of this invocation (resume later)." };
        public readonly Option<bool> Fresh = new("--fresh") { Description = "Ignore an existing checkpoint and start the stage over." };
        public readonly Option<int?> Warmup = new("--warmup") { Description = "Linear warm-up steps of the learning rate." };
        public readonly Option<ScaleLossWeighting?> ScaleWeighting = new("--scale-weighting") { Description = "Loss over scales (star and sampler stages): Uniform (every token alike, as VAR/STAR) or PerScale (every scale alike)." };
        public readonly Option<double?> PromptProbe = new("--prompt-probe") { Description = "STAR stage: weight of the prompt-facts loss that keeps the text encoder informative (0 = off)." };
        public readonly Option<int> Threads = new("--threads") { Description = "CPU threads for torch (0 = torch's default); 1 was 4-7x faster than 2 on a busy 2-core machine.", DefaultValueFactory = _ => 1 };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Run, Preset, Steps, Batch, Lr, Seed, CheckpointEvery, SampleEvery, MaxSteps, Fresh, Warmup, ScaleWeighting, PromptProbe, Threads }) c.Options.Add(o);
        }

        public TrainOptions Build(ParseResult p, TrainOptions defaults)
        {
            if (p.GetValue(Threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);
            return Make(p, defaults);
        }

        TrainOptions Make(ParseResult p, TrainOptions defaults) => defaults with
        {
            WarmupSteps = p.GetValue(Warmup) ?? defaults.WarmupSteps,
            ScaleWeighting = p.GetValue(ScaleWeighting) ?? defaults.ScaleWeighting,
            PromptProbeWeight = p.GetValue(PromptProbe) ?? defaults.PromptProbeWeight,
            RunFolder = p.GetValue(Run)!,
            Preset = p.GetValue(Preset)!,
            Steps = p.GetValue(Steps) ?? defaults.Steps,
            BatchSize = p.GetValue(Batch) ?? defaults.BatchSize,
            LearningRate = p.GetValue(Lr) ?? defaults.LearningRate,
            Seed = p.GetValue(Seed),
            CheckpointEvery = p.GetValue(CheckpointEvery),
            SampleEvery = p.GetValue(SampleEvery),
            MaxStepsThisRun = p.GetValue(MaxSteps),
        };
    }

    public static Command Create()
    {
        var cmd = new Command("train", "Train the embedded ShapesWorld model in C#: the VQ-VAE, the STAR transformer with its text encoder, then the stable-sampler head (and the detail head, for presets that have one).");
        var all = new StageOptions();
        var output = new Option<string>("--out", "-o") { Description = "Model folder to export to after the last stage.", DefaultValueFactory = _ => Path.Combine("models", "shapes-star") };
        all.AddTo(cmd);
        cmd.Options.Add(output);
        cmd.SetAction((p, ct) => Task.FromResult(CliErrors.Run(() =>
        {
            foreach (var stage in ShapesTraining.Stages.Where(s => ShapesTraining.AppliesTo(s, ShapesModelPreset.ByName(p.GetValue(all.Preset)!))))
            {
                var options = all.Build(p, ShapesTraining.Defaults(stage, p.GetValue(all.Preset)!) with { RunFolder = p.GetValue(all.Run)! });
                RunStage(stage, options, p.GetValue(all.Fresh), ct);
                if (ct.IsCancellationRequested) return 130;
            }
            Export(p.GetValue(all.Run)!, p.GetValue(all.Preset)!, p.GetValue(output)!);
            return 0;
        })));

        foreach (var stage in ShapesTraining.Stages)
        {
            var sub = new Command(stage, ShapesTraining.Describe(stage));
            var o = new StageOptions();
            o.AddTo(sub);
            sub.SetAction((p, ct) => Task.FromResult(CliErrors.Run(() =>
            {
                var options = o.Build(p, ShapesTraining.Defaults(stage, p.GetValue(o.Preset)!) with { RunFolder = p.GetValue(o.Run)! });
                RunStage(stage, options, p.GetValue(o.Fresh), ct);
                return ct.IsCancellationRequested ? 130 : 0;
            })));
            cmd.Subcommands.Add(sub);
        }

        var export = new Command("export", "Write the trained stages of a run as a model folder (model.json + safetensors + vocab).");
        var exportRun = new Option<string>("--run") { Description = "Run folder.", DefaultValueFactory = _ => Path.Combine("runs", "shapes") };
        var exportPreset = new Option<string>("--preset") { Description = $"Model sizes: {ShapesModelPreset.Catalogue}.", DefaultValueFactory = _ => "shapes" };
        var exportOut = new Option<string>("--out", "-o") { Description = "Model folder.", DefaultValueFactory = _ => Path.Combine("models", "shapes-star") };
        foreach (var opt in new Option[] { exportRun, exportPreset, exportOut }) export.Options.Add(opt);
        export.SetAction(p => CliErrors.Run(() =>
        {
            Export(p.GetValue(exportRun)!, p.GetValue(exportPreset)!, p.GetValue(exportOut)!);
            return 0;
        }));
        cmd.Subcommands.Add(export);
        return cmd;
    }

    static void Export(string run, string preset, string folder)
    {
        var manifest = ShapesTraining.Export(run, ShapesModelPreset.ByName(preset), folder);
        AnsiConsole.MarkupLine($"Model written to [bold]{Markup.Escape(manifest)}[/]");
    }

    static void RunStage(string stage, TrainOptions options, bool fresh, CancellationToken ct)
    {
        using var trainer = ShapesTraining.CreateTrainer(stage, options);
        bool resumed = !fresh && trainer.TryResume();
        if (fresh) trainer.StartFresh();
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(resumed
            ? $"[{stage}] resumed at step {trainer.Step}/{options.Steps} from {trainer.StageFolder}"
            : $"[{stage}] starting: {options.Steps} steps, batch {options.BatchSize}, lr {options.LearningRate.ToString(inv)}, into {trainer.StageFolder}");
        if (trainer.Step >= options.Steps) { Console.WriteLine($"[{stage}] already complete."); return; }

        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"{stage}", maxValue: options.Steps);
                    task.Value = trainer.Step;
                    trainer.Run(pr =>
                    {
                        task.Value = pr.Step;
                        task.Description = $"{stage} loss {pr.SmoothedLoss.ToString("F4", inv)} {Extra(pr)}";
                    }, ct);
                });
        }
        else
        {
            trainer.Run(pr =>
            {
                if (pr.Step % 10 == 0 || pr.Step == pr.TotalSteps)
                    Console.WriteLine($"[{stage}] step {pr.Step}/{pr.TotalSteps} loss {pr.Loss.ToString("F4", inv)} (avg {pr.SmoothedLoss.ToString("F4", inv)}) lr {pr.Lr.ToString("G3", inv)} {Extra(pr)} elapsed {pr.Elapsed:hh\\:mm\\:ss} eta {pr.Eta:hh\\:mm\\:ss}");
            }, ct);
        }
        Console.WriteLine($"[{stage}] stopped at step {trainer.Step}/{options.Steps}; checkpoint, {TrainerBase.LossFile} and {TrainerBase.CurveFile} in {trainer.StageFolder}");
    }

    static string Extra(TrainProgress pr) =>
        string.Join(" ", pr.Metrics.Where(kv => kv.Key is not ("grad_norm" or TrainerBase.SkippedMetric)).Select(kv => $"{kv.Key} {kv.Value.ToString("G4", CultureInfo.InvariantCulture)}"))
        + (pr.SkippedUpdates > 0 ? $" skipped {pr.SkippedUpdates} (non-finite gradient)" : "");
}
