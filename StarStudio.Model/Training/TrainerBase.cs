// StarStudio's own training loop (no reference file): resumable stages with one safetensors checkpoint (weights of
// every trained module + AdamW state) and a JSON sidecar (step, seed, options), a CSV of losses, a loss-curve PNG and
// sample grids. Step s always trains on the same samples with the same random numbers, so a resumed run continues
// exactly where the interrupted one would have gone.
using System.Diagnostics;
using System.Text.Json;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Shapes;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Training;

/// <summary>The JSON sidecar of a stage checkpoint.</summary>
public sealed record TrainCheckpointInfo(string Stage, string Preset, int Step, int TotalSteps, long Seed, long OptimizerSteps, double SecondsSoFar, DateTime SavedUtc);

public abstract class TrainerBase : IDisposable
{
    public const string CheckpointFile = "checkpoint.safetensors";
    public const string CheckpointInfoFile = "checkpoint.json";
    public const string LossFile = "losses.csv";
    public const string CurveFile = "loss_curve.png";

    protected TrainerBase(string stage, TrainOptions options)
    {
        Stage = stage;
        Options = options;
        Preset = ShapesModelPreset.ByName(options.Preset).Validated();
        StageFolder = Path.Combine(options.RunFolder, stage);
        Directory.CreateDirectory(StageFolder);
        Log = new LossLog(Path.Combine(StageFolder, LossFile));
        Train = new ShapesDataset((int)(options.Seed & 0x7fffffff), ShapesSplit.Train, Preset.ImageSize, DataJitter(stage, Preset));
    }

    /// <summary>
    /// Jitter of a stage's training pictures: the VQ-VAE always learns from the full play (a tokenizer for every
    /// picture), the STAR and sampler stages from the preset's <see cref="ShapesModelPreset.GeneratorJitter"/>.
    /// </summary>
    public static float DataJitter(string stage, ShapesModelPreset preset) =>
        stage == VqVaeTrainer.StageName ? 1f : preset.GeneratorJitter;

    public string Stage { get; }
    public TrainOptions Options { get; }
    public ShapesModelPreset Preset { get; }
    public string StageFolder { get; }
    public LossLog Log { get; }
    public ShapesDataset Train { get; }
    /// <summary>Completed steps.</summary>
    public int Step { get; private set; }
    double _secondsBefore;

    /// <summary>Modules whose weights the checkpoint holds, by key prefix.</summary>
    protected abstract IReadOnlyList<(string Prefix, nn.Module Module)> CheckpointModules { get; }
    protected abstract AdamW Optimizer { get; }

    /// <summary>losses.csv column: 1 where AdamW skipped the step's update because its gradient was not finite.</summary>
    public const string SkippedMetric = "update_skipped";

    /// <summary>One optimizer step at 0-based step index (forward, backward, clip, AdamW).</summary>
    protected abstract StepResult TrainStep(int step, double lr);

    /// <summary>Writes a sample grid PNG for the current weights.</summary>
    protected virtual void WriteSamples(string path) { }

    /// <summary>Per-step seed of torch's generator and of the trainer's own draws (prompt dropout).</summary>
    protected long StepSeed(int step) => unchecked(Options.Seed * 1_000_003L + step * 7919L + Stage.Length);

    /// <summary>Captions with prompt dropout applied (deterministic per step): "" is the unconditional prompt of CFG.</summary>
    public IReadOnlyList<string> DropPrompts(IReadOnlyList<string> captions, int step)
    {
        var rng = new Random((int)(StepSeed(step) & 0x7fffffff));
        return [.. captions.Select(c => rng.NextDouble() < Options.PromptDropout ? "" : c)];
    }

    /// <summary>Starts the stage over (--fresh): forgets the logged losses and deletes the old run's sample grids.</summary>
    public void StartFresh()
    {
        Log.LoadExisting(0);
        if (!Directory.Exists(StageFolder)) return;
        foreach (var f in Directory.EnumerateFiles(StageFolder, "samples_step*.png")) File.Delete(f);
    }

    /// <summary>Resumes from StageFolder's checkpoint when there is one; returns whether it did.</summary>
    public bool TryResume()
    {
        var info = ReadInfo(StageFolder);
        if (info is null)
        {
            Log.LoadExisting(0);
            return false;
        }
        if (info.Preset != Options.Preset && ShapesModelPreset.ByName(info.Preset).Name != Preset.Name)
            throw new InvalidDataException($"{StageFolder}: the checkpoint is of preset '{info.Preset}', not '{Options.Preset}'.");
        using var sd = CheckpointFile_Read(Path.Combine(StageFolder, CheckpointFile));
        CheckSameParts(sd.Keys);
        LoadModules(sd, CheckpointModules);
        Optimizer.LoadState(sd.Where(kv => kv.Key.StartsWith("optim.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["optim.".Length..], kv => kv.Value), info.OptimizerSteps);
        Step = info.Step;
        _secondsBefore = info.SecondsSoFar;
        Log.LoadExisting(Step);
        return true;
    }

    /// <summary>
    /// The checkpoint must hold exactly the parts this run trains: options such as --prompt-probe add a part, and
    /// resuming with other options would otherwise fail on a list of missing tensor names.
    /// </summary>
    void CheckSameParts(IEnumerable<string> keys)
    {
        var inFile = keys.Select(k => k[..Math.Max(0, k.IndexOf('.'))]).Where(p => p is not ("" or "optim")).ToHashSet();
        var trained = CheckpointModules.Select(m => m.Prefix).ToHashSet();
        if (inFile.SetEquals(trained)) return;
        static string List(IEnumerable<string> parts) => string.Join(", ", parts.Order());
        throw new InvalidDataException(
            $"{StageFolder}: the checkpoint holds the parts [{List(inFile)}], but this run trains [{List(trained)}]. It was written " +
            "with other options (--prompt-probe adds the part 'probe'): resume with the options it was started with, or start " +
            "the stage over with --fresh.");
    }

    public static TrainCheckpointInfo? ReadInfo(string stageFolder)
    {
        var path = Path.Combine(stageFolder, CheckpointInfoFile);
        if (!File.Exists(path) || !File.Exists(Path.Combine(stageFolder, CheckpointFile))) return null;
        return JsonSerializer.Deserialize<TrainCheckpointInfo>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"{path}: empty checkpoint info.");
    }

    static LoadedStateDict CheckpointFile_Read(string path) => Checkpoints.CheckpointFile.ReadStateDict(path);

    /// <summary>Copies "prefix.name" tensors of a state dict into each module (strict: every key must be there).</summary>
    public static void LoadModules(IReadOnlyDictionary<string, Tensor> sd, IEnumerable<(string Prefix, nn.Module Module)> modules,
        StateDictLoadOptions? options = null)
    {
        foreach (var (prefix, module) in modules)
        {
            var part = sd.Where(kv => kv.Key.StartsWith(prefix + ".", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[(prefix.Length + 1)..], kv => kv.Value);
            StateDictLoader.Load(module, part, options ?? StateDictLoadOptions.Default, prefix);
        }
    }

    /// <summary>Writes the checkpoint (weights + optimizer state, then the JSON sidecar; each via a temp file).</summary>
    public void SaveCheckpoint(double secondsThisRun = 0)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (prefix, module) in CheckpointModules)
            foreach (var (name, t) in module.state_dict()) tensors[prefix + "." + name] = t;
        foreach (var (name, t) in Optimizer.StateTensors()) tensors["optim." + name] = t;
        var path = Path.Combine(StageFolder, CheckpointFile);
        SafetensorsWriter.Write(path + ".tmp", tensors);
        File.Move(path + ".tmp", path, overwrite: true);
        var info = new TrainCheckpointInfo(Stage, Options.Preset, Step, Options.Steps, Options.Seed, Optimizer.StepCount,
            _secondsBefore + secondsThisRun, DateTime.UtcNow);
        var infoPath = Path.Combine(StageFolder, CheckpointInfoFile);
        File.WriteAllText(infoPath + ".tmp", JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(infoPath + ".tmp", infoPath, overwrite: true);
    }

    /// <summary>Trains from the current step to Options.Steps (or MaxStepsThisRun more), checkpointing as it goes.</summary>
    public void Run(Action<TrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        int stop = Options.Steps;
        if (Options.MaxStepsThisRun is { } max) stop = Math.Min(stop, Step + max);
        int startStep = Step;
        double smoothed = double.NaN;
        while (Step < stop)
        {
            if (cancellationToken.IsCancellationRequested) break;
            double lr = Options.LrAt(Step);
            var t0 = clock.Elapsed.TotalSeconds;
            manual_seed(StepSeed(Step));
            long skippedBefore = Optimizer.SkippedSteps;
            var result = TrainStep(Step, lr);
            // losses.csv marks the steps whose update was skipped (a non-finite gradient) so a curve can be read right.
            result = result with { Metrics = new Dictionary<string, double>(result.Metrics) { [SkippedMetric] = Optimizer.SkippedSteps - skippedBefore } };
            Log.Add(Step, result, lr, clock.Elapsed.TotalSeconds - t0);
            smoothed = double.IsNaN(smoothed) ? result.Loss : 0.95 * smoothed + 0.05 * result.Loss;
            Step++;
            double perStep = clock.Elapsed.TotalSeconds / (Step - startStep);
            progress?.Invoke(new TrainProgress(Stage, Step, Options.Steps, result.Loss, smoothed, lr, result.Metrics,
                TimeSpan.FromSeconds(_secondsBefore + clock.Elapsed.TotalSeconds), TimeSpan.FromSeconds(perStep * (stop - Step)),
                SkippedUpdates: Optimizer.SkippedSteps));
            if (Step % Options.CheckpointEvery == 0 || Step == stop)
            {
                SaveCheckpoint(clock.Elapsed.TotalSeconds);
                if (Options.WriteImages) WriteCurve();
            }
            if (Options.WriteImages && Options.SampleEvery > 0 && Step % Options.SampleEvery == 0 && Step != stop)
                WriteSamples(Path.Combine(StageFolder, $"samples_step{Step:D6}.png"));
        }
        if (Step > startStep)
        {
            SaveCheckpoint(clock.Elapsed.TotalSeconds);
            if (Options.WriteImages)
            {
                WriteCurve();
                WriteSamples(Path.Combine(StageFolder, $"samples_step{Step:D6}.png"));
            }
        }
        _secondsBefore += clock.Elapsed.TotalSeconds;
    }

    void WriteCurve() => LossCurve.Render(Log.Losses, $"{Stage} loss").SavePng(Path.Combine(StageFolder, CurveFile));

    /// <summary>Named trainable parameters of a module under a prefix.</summary>
    protected static IEnumerable<(string, TorchSharp.Modules.Parameter)> Named(string prefix, nn.Module module) =>
        module.named_parameters().Select(p => (prefix + "." + p.name, p.parameter));

    /// <summary>No weight decay for vectors (biases, norms) and for embeddings of positions, levels and words.</summary>
    protected static bool NoDecay(string name, TorchSharp.Modules.Parameter p) =>
        p.dim() < 2 || name.Contains("pos_") || name.Contains("lvl_embed") || name.Contains("position_embedding") || name.Contains("embedding");

    public virtual void Dispose()
    {
        Optimizer.Dispose();
        GC.SuppressFinalize(this);
    }
}
