namespace StarStudio.Web.Services;

/// <summary>The "StarStudio" section of appsettings (or --StarStudio:Key=value on the command line).</summary>
public sealed class StarStudioOptions
{
    public const string Section = "StarStudio";

    /// <summary>Model folder (model.json + safetensors). Empty: the default model (ModelStore.LoadDefault).</summary>
    public string? ModelFolder { get; set; }
    /// <summary>
    /// Random-weight preset (RandomModels) used when no model folder is configured and no default model exists yet.
    /// Setting it together with <see cref="ForceRandom"/> skips the default model (tests, demos of the UI).
    /// </summary>
    public string RandomPreset { get; set; } = "tiny-star";
    public bool ForceRandom { get; set; }
    /// <summary>Generations run at once (each on its own model thread). One keeps the CPU for one user at a time.</summary>
    public int Workers { get; set; } = 1;
    /// <summary>Folder of the history database; empty: "data" under the content root.</summary>
    public string? DataFolder { get; set; }
    /// <summary>
    /// Up to this many queued single requests with the same sampler settings (prompts and seeds may differ) run as
    /// one batch, one row each; every user still gets exactly their own images. 1 = off. Never for models limited to
    /// one row (the reference's cross-attention quirk). Measured: eight tiny-model users 21.2 s one by one, 4.2 s
    /// batched (TestResults/web-batch-users.json, STARSTUDIO_WEB_BATCH_BENCH).
    /// </summary>
    public int BatchUsers { get; set; } = 4;
    /// <summary>
    /// Folders holding model folders, for the model manager (/models): only these are listed, imported or loaded.
    /// Empty: $STARSTUDIO_MODELS, else ./models when it exists, else the folder of the embedded default model.
    /// </summary>
    public string[]? ModelRoots { get; set; }
    /// <summary>Memory to check a model's estimate against when loading it, in MiB; 0 measures what the machine has
    /// available (set it to keep room for other programs, or in tests).</summary>
    public long AssumeAvailableMemoryMiB { get; set; }
    /// <summary>Most queued jobs before new ones are refused (protects memory under load).</summary>
    public int MaxQueue { get; set; } = 64;
}
