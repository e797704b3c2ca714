// StarStudio's own training plumbing (no reference file); hyper-parameter names follow STAR/VAR train.py where they exist.
namespace StarStudio.Model.Training;

/// <summary>Settings of one training stage.</summary>
public sealed record TrainOptions
{
    /// <summary>Run folder; each stage writes into RunFolder/&lt;stage&gt;/.</summary>
    public required string RunFolder { get; init; }
    public string Preset { get; init; } = "shapes";
    /// <summary>Total optimizer steps of the stage (a resumed run continues up to this).</summary>
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 64;
    /// <summary>Peak learning rate (tlr).</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Linear warm-up steps, then cosine decay to <see cref="FinalLrRatio"/> of the peak.</summary>
    public int WarmupSteps { get; init; } = 50;
    public double FinalLrRatio { get; init; } = 0.1;
    public double WeightDecay { get; init; } = 0.05;
    /// <summary>Global gradient-norm clip (tclip); 0 = off.</summary>
    public double GradClip { get; init; } = 2.0;
    public long Seed { get; init; } = 1;
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>Steps between sample grids; 0 = only at the end.</summary>
    public int SampleEvery { get; init; } = 500;
    /// <summary>Probability of replacing a caption by "" (classifier-free guidance training; the reference uses 10%).</summary>
    public double PromptDropout { get; init; } = 0.1;
    /// <summary>Stop after this many steps of this invocation (tests, time-boxed runs); null = run to <see cref="Steps"/>.</summary>
    public int? MaxStepsThisRun { get; init; }
    /// <summary>How the cross-entropy weighs the tokens of the scales (STAR stage; sampler stage over its hidden tokens).</summary>
    public ScaleLossWeighting ScaleWeighting { get; init; } = ScaleLossWeighting.Uniform;
    /// <summary>Weight of the prompt-facts loss on the text encoder's pooled vector (<see cref="PromptProbe"/>); 0 = off, as STAR.</summary>
    public double PromptProbeWeight { get; init; }
    /// <summary>Write sample grids and the loss curve (off in tests for speed).</summary>
    public bool WriteImages { get; init; } = true;

    /// <summary>Learning rate at a 0-based step: linear warm-up, then cosine from the peak to FinalLrRatio * peak.</summary>
    public double LrAt(int step)
    {
        if (step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        double t = Steps <= WarmupSteps ? 1 : Math.Clamp((double)(step - WarmupSteps) / (Steps - WarmupSteps), 0, 1);
        return LearningRate * (FinalLrRatio + (1 - FinalLrRatio) * 0.5 * (1 + Math.Cos(Math.PI * t)));
    }
}

/// <summary>How the teacher-forced cross-entropy is averaged over the L tokens of all scales.</summary>
public enum ScaleLossWeighting
{
    /// <summary>VAR/STAR train.py: every token weighs 1/L, so the 1x1 scale is 1/L of the loss.</summary>
    Uniform,
    /// <summary>
    /// StarStudio's option: each scale's mean cross-entropy weighs 1/(number of scales). The coarse scales, where a
    /// small model must read the prompt (background colour, layout), otherwise get a few tokens' worth of gradient
    /// against hundreds of fine-scale tokens (docs/MODEL_CARD.md).
    /// </summary>
    PerScale,
}

/// <summary>One logged step: the loss and named extra metrics.</summary>
public sealed record StepResult(double Loss, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// What a progress display needs after each step. SkippedUpdates: updates AdamW left out in this run because their
/// gradient was not finite (AdamW.ClipGradNorm); a display should say so when it is not 0.
/// </summary>
public sealed record TrainProgress(string Stage, int Step, int TotalSteps, double Loss, double SmoothedLoss, double Lr,
    IReadOnlyDictionary<string, double> Metrics, TimeSpan Elapsed, TimeSpan? Eta, string? Message = null, long SkippedUpdates = 0);
