using System.Globalization;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Web.Components.Pages;

public enum SeedMode { Random, ReuseLast, Fixed }

/// <summary>One scale in the filmstrip: it stays after the run and can be clicked to show that scale.</summary>
public sealed record FilmItem(int Scale, int Side, double Ms, double ElapsedMs);

/// <summary>The STAR demo done right: every control validated in place, the image growing scale by scale.</summary>
public partial class Playground
{
    [Inject] GenerationService Generation { get; set; } = null!;
    [Inject] HistoryStore History { get; set; } = null!;
    [Inject] IJSRuntime JS { get; set; } = null!;

    /// <summary>Re-open a history entry's parameters (and its image).</summary>
    [SupplyParameterFromQuery(Name = "history")] public long? HistoryId { get; set; }
    /// <summary>With <see cref="HistoryId"/>: run it again at once.</summary>
    [SupplyParameterFromQuery(Name = "run")] public bool RunNow { get; set; }

    // Controls (public so tests and the page bind to the same state).
    /// <summary>The loaded model to draw with; null: the host's active model.</summary>
    public string? ModelName { get; set; }
    public string Prompt { get; set; } = "";
    public string NegativePrompt { get; set; } = "";
    /// <summary>The class to draw, for class-conditional models (VAR); they take no prompt.</summary>
    public int ClassLabel { get; set; }
    public double Cfg { get; set; } = 4.0;
    public int TopK { get; set; }
    public double TopP { get; set; } = 0.8;
    public int BatchSize { get; set; } = 1;
    public long Seed { get; set; }
    public SeedMode SeedMode { get; set; } = SeedMode.Random;
    public bool MoreSmooth { get; set; }
    public bool StableSampling { get; set; }

    // Run state.
    public bool Running { get; private set; }
    public IReadOnlyDictionary<string, string> Errors => _errors;
    public List<FilmItem> Film { get; } = [];
    public GenerationResult? Result { get; private set; }
    public string? Outcome { get; private set; }
    public bool Failed { get; private set; }
    public List<string> Notices { get; } = [];
    public IReadOnlyList<string> UnknownWords { get; private set; } = [];

    readonly Dictionary<string, string> _errors = new(StringComparer.Ordinal);
    DotNetObjectReference<Playground>? _self;
    IJSObjectReference? _keys;
    bool _filmDirty;
    bool _interactive;
    int _scaleCount;
    int _ahead;
    double _etaMs = double.NaN;
    int Rows = 1;
    int Shown = -1;
    long? _lastSeed;

    bool TextModel => Generation.Host.InfoFor(ModelName)?.Limits.TextConditional ?? true;
    string ClassLabelText => Generation.Host.InfoFor(ModelName) is { Limits.NumClasses: > 0 and var n } ? $"Class label (0 to {n - 1})" : "Class label";
    bool CanGenerate => Generation.Host.State != ModelState.Failed;
    bool HasError(string field) => _errors.ContainsKey(field);
    string? ErrorFor(string field) => _errors.GetValueOrDefault(field);
    double ProgressPercent => _scaleCount == 0 ? 0 : 100.0 * Film.Count / _scaleCount;
    string SeedLabel => SeedMode switch
    {
        SeedMode.Fixed => "Seed",
        SeedMode.ReuseLast => _lastSeed is { } s ? $"Seed (reusing {s})" : "Seed (none yet: random)",
        _ => "Seed (random each run)",
    };
    string PromptHelp => string.IsNullOrEmpty(Prompt)
        ? "Empty prompt: generates unconditionally"
        : _promptTruncated ? "Too long: the end of the prompt is cut off" : "Ctrl+Enter generates";
    bool _promptTruncated;

    string StatusText
    {
        get
        {
            string eta = double.IsNaN(_etaMs) ? "" : $" · ETA {_etaMs / 1000:F1} s";
            if (Film.Count == 0 && _ahead > 0) return $"Queued: {_ahead} ahead of you{eta}";
            if (Film.Count == 0) return "Starting…" + eta;
            var last = Film[^1];
            return $"Scale {Film.Count} of {_scaleCount} ({last.Side}×{last.Side}) · {last.ElapsedMs / 1000:F2} s";
        }
    }

    protected override void OnInitialized()
    {
        ModelName = Generation.Host.ActiveModel;
        ApplyRecommended();
    }

    /// <summary>The chosen model's recommended sampling settings (model.json "sampling"), when it has any.</summary>
    StarStudio.Model.Presets.SamplingDefaults? Recommended => Generation.Host.InfoFor(ModelName)?.Recommended;

    /// <summary>The sampling controls as one value (the Compare page's column type).</summary>
    SamplerSettings Sampling
    {
        get => new(Cfg, TopK, TopP, MoreSmooth, StableSampling);
        set => (Cfg, TopK, TopP, MoreSmooth, StableSampling) = (value.Cfg, value.TopK, value.TopP, value.MoreSmooth, value.StableSampling);
    }

    /// <summary>Whether the sampling controls hold exactly the chosen model's recommended settings.</summary>
    public bool OnRecommended => Recommended is { } d && Sampling == SamplerSettings.From(d);

    /// <summary>Puts the chosen model's recommended sampling settings into the controls, when it has any.</summary>
    void ApplyRecommended()
    {
        if (Recommended is { } d) Sampling = SamplerSettings.From(d);
    }

    protected override void OnParametersSet()
    {
        if (HistoryId is { } id && History.Get(id) is { } entry) Apply(entry.Metadata);
        InspectPrompt(Prompt);
    }

    /// <summary>Puts a stored image's parameters into the controls (seed fixed, so a re-run reproduces it).</summary>
    void Apply(GenerationMetadata m)
    {
        if (Generation.Host.InfoFor(m.Model) is not null) ModelName = m.Model;
        Prompt = m.Prompt ?? "";
        ClassLabel = m.ClassLabel ?? 0;
        NegativePrompt = m.NegativePrompt ?? "";
        Cfg = m.Cfg;
        TopK = m.TopK;
        TopP = m.TopP;
        MoreSmooth = m.MoreSmooth;
        StableSampling = m.StableSampling;
        Seed = m.Seed;
        SeedMode = SeedMode.Fixed;
        BatchSize = 1;
        InspectPrompt(Prompt);
    }

    /// <summary>A PNG dropped onto the page: StarStudio's own images bring back their parameters.</summary>
    [JSInvokable]
    public async Task OnPngDropped(byte[] png)
    {
        if (Running) return;
        Notices.Clear();
        GenerationMetadata? meta;
        try { meta = GenerationMetadata.FromPng(png); }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException) { meta = null; }
        if (meta is null)
        {
            Notices.Add("That image has no StarStudio parameters; nothing was changed.");
            StateHasChanged();
            return;
        }
        Apply(meta);
        _errors.Clear();
        Notices.Add($"Parameters restored from the dropped image (seed {meta.Seed}, model {meta.Model}).");
        Rows = 1;
        Film.Clear();
        Result = null;
        Outcome = null;
        StateHasChanged();
        await JS.InvokeVoidAsync("starstudio.reset");
        await JS.InvokeVoidAsync("starstudio.frame", 0, 0, png);
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (firstRender)
        {
            _self = DotNetObjectReference.Create(this);
            _interactive = true;
            StateHasChanged();
            _keys = await JS.InvokeAsync<IJSObjectReference?>("starstudio.registerKeys", _self);
            if (HistoryId is { } id && History.GetPng(id) is { } png)
            {
                await JS.InvokeVoidAsync("starstudio.frame", 0, 0, png);
                if (RunNow) await GenerateAsync();
            }
        }
        if (_filmDirty)
        {
            _filmDirty = false;
            await JS.InvokeVoidAsync("starstudio.fillFilm");
        }
    }

    [JSInvokable] public Task OnCtrlEnter() => Running ? Task.CompletedTask : GenerateAsync();
    [JSInvokable] public Task OnEscape() { Stop(); return Task.CompletedTask; }

    // Immediate and not debounced: Ctrl+Enter right after typing must see the whole prompt. Tokenizing is cheap.
    void OnPromptChanged(string? prompt)
    {
        Prompt = prompt ?? "";
        InspectPrompt(Prompt);
    }

    void OnModelChanged(string? model)
    {
        ModelName = model;
        _errors.Remove("model");
        ApplyRecommended();
        InspectPrompt(Prompt); // another model, another vocabulary
    }

    public void InspectPrompt(string? prompt)
    {
        var report = Generation.Host.InspectPrompt(prompt ?? "", ModelName);
        UnknownWords = report?.UnknownWords.Distinct().ToArray() ?? [];
        _promptTruncated = report?.Truncated ?? false;
    }

    /// <summary>The request the controls describe (seed resolved by the seed mode).</summary>
    public GenerationRequest BuildRequest()
    {
        long seed = SeedMode switch
        {
            SeedMode.Fixed => Seed,
            SeedMode.ReuseLast when _lastSeed is { } s => s,
            _ => Random.Shared.NextInt64(0, 1L << 31),
        };
        bool text = Generation.Host.InfoFor(ModelName)?.Limits.TextConditional ?? true;
        int n = Math.Max(BatchSize, 0);
        return new GenerationRequest
        {
            Prompts = text ? Enumerable.Repeat(Prompt ?? "", n).ToArray() : [],
            ClassLabels = text ? [] : Enumerable.Repeat(ClassLabel, n).ToArray(),
            NegativePrompt = !text || string.IsNullOrWhiteSpace(NegativePrompt) ? null : NegativePrompt,
            Seed = seed,
            Cfg = Cfg,
            TopK = TopK,
            TopP = TopP,
            MoreSmooth = MoreSmooth,
            StableSampling = StableSampling,
        };
    }

    public async Task GenerateAsync()
    {
        if (Running) return;
        var request = BuildRequest();
        _errors.Clear();
        if (BatchSize < 1) _errors["batch"] = "Batch size must be at least 1.";
        foreach (var e in Generation.Host.Validate(request, ModelName)) _errors.TryAdd(e.Field, e.Message);
        if (_errors.Count > 0) { StateHasChanged(); return; }

        Seed = request.Seed;
        Running = true;
        Failed = false;
        Outcome = null;
        Result = null;
        Film.Clear();
        Notices.Clear();
        Rows = request.Rows;
        Shown = -1;
        _scaleCount = 0;
        _ahead = 0;
        _etaMs = double.NaN;
        _framesLost = false;
        StateHasChanged();
        await JS.InvokeVoidAsync("starstudio.reset");
        try
        {
            var final = await Generation.RunAsync(request, OnUpdateAsync, model: ModelName);
            switch (final)
            {
                case JobCompleted done:
                    Result = done.Result;
                    // Frames were lost while the connection was down: at least the final images reach the page.
                    if (_framesLost)
                        for (int r = 0; r < done.Result.Pngs.Count; r++) await PushFrameAsync(_scaleCount - 1, r, done.Result.Pngs[r]);
                    _lastSeed = request.Seed;
                    Outcome = string.Create(CultureInfo.InvariantCulture, $"Done in {done.Result.TotalMs / 1000:F2} s.");
                    break;
                case JobFailed failed:
                    Failed = true;
                    Outcome = "Generation failed: " + failed.Message;
                    break;
                default:
                    Outcome = Film.Count > 0 ? $"Stopped after scale {Film.Count} of {_scaleCount}." : "Cancelled before it started.";
                    break;
            }
        }
        catch (InvalidGenerationRequestException e)
        {
            foreach (var err in e.Errors) _errors.TryAdd(err.Field, err.Message);
        }
        catch (InvalidOperationException e)
        {
            Failed = true;
            Outcome = e.Message;
        }
        finally
        {
            Running = false;
            StateHasChanged();
        }
    }

    async Task OnUpdateAsync(JobUpdate update)
    {
        switch (update)
        {
            case JobQueued q:
                _ahead = q.Ahead;
                _etaMs = q.EtaMs;
                break;
            case JobStarted s:
                _ahead = 0;
                _etaMs = s.EtaMs;
                break;
            case JobFrame { Frame: var f }:
                _scaleCount = f.ScaleCount;
                Notices.AddRange(f.Notices);
                if (f.Pngs is { } pngs)
                    for (int r = 0; r < pngs.Count; r++)
                        await PushFrameAsync(f.ScaleIndex, r, pngs[r]);
                var t = f.Timings;
                Film.Add(new FilmItem(f.ScaleIndex, f.Side, t.TransformerMs + t.SamplingMs + t.DecodeMs, t.ElapsedMs));
                _filmDirty = true;
                break;
        }
        StateHasChanged();
    }

    public void Stop() => Generation.Stop();

    /// <summary>Sends one scale's picture to the browser; one it can't take now (connection down) is dropped.</summary>
    async Task PushFrameAsync(int scale, int row, byte[] png)
    {
        if (!await JS.TrySendAsync("starstudio.frame", scale, row, png)) _framesLost = true;
    }

    bool _framesLost;

    async Task ShowScaleAsync(int scale)
    {
        Shown = Shown == scale ? -1 : scale;
        await JS.InvokeVoidAsync("starstudio.show", Shown);
    }

    async Task DownloadAsync()
    {
        if (Result is null) return;
        for (int r = 0; r < Result.Pngs.Count; r++)
            await JS.InvokeVoidAsync("starstudio.download", Result.Pngs[r], $"starstudio-{Result.Metadata[r].Seed}.png");
    }

    async Task CopyParametersAsync()
    {
        if (Result is not null) await JS.InvokeVoidAsync("starstudio.copy", Result.Metadata[0].ToText());
    }

    public async ValueTask DisposeAsync()
    {
        Generation.Stop();
        try
        {
            if (_keys is not null) await _keys.InvokeVoidAsync("dispose");
        }
        catch (JSDisconnectedException) { }
        _self?.Dispose();
    }
}
