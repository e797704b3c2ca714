using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Web.Components.Pages;

/// <summary>A setting an X/Y sweep can vary.</summary>
public enum SweepAxis { None, Cfg, TopK, TopP, Seed }

/// <summary>One column's sampler settings.</summary>
public sealed record SamplerSettings(double Cfg = 4.0, int TopK = 0, double TopP = 0.8, bool MoreSmooth = false, bool StableSampling = false)
{
    public string Label =>
        $"cfg {Cfg:0.##} · top-k {(TopK == 0 ? "off" : TopK)} · top-p {(TopP == 0 ? "off" : TopP.ToString("0.##"))}"
        + (MoreSmooth ? " · smooth" : "") + (StableSampling ? " · stable" : "");

    /// <summary>A model's recommended settings (model.json "sampling") as a column.</summary>
    public static SamplerSettings From(Model.Presets.SamplingDefaults d) => new(d.Cfg, d.TopK, d.TopP, d.MoreSmooth, d.StableSampling);
}

/// <summary>A row of the scale table: which scale, its side, and whether every column has delivered it.</summary>
public sealed record CompareScaleRow(int Scale, int Side);

/// <summary>
/// Two to four columns with one prompt and seed and their own samplers, run as one job in step: every column's
/// scale k arrives before any column's scale k+1. The first scale whose token maps differ is marked.
/// </summary>
public partial class Compare
{
    [Inject] GenerationService Generation { get; set; } = null!;
    [Inject] IJSRuntime JS { get; set; } = null!;

    public string Prompt { get; set; } = "";
    public long Seed { get; set; } = Random.Shared.NextInt64(0, 1L << 31);
    public List<SamplerSettings> Columns { get; } = [];

    public bool Running { get; private set; }
    public string? Status { get; private set; }
    public List<CompareScaleRow> ScaleRows { get; } = [];
    /// <summary>First scale at which the columns' token maps differ (null: identical so far).</summary>
    public int? FirstDivergence { get; private set; }
    public Dictionary<int, double> Totals { get; } = [];

    readonly Dictionary<(int Column, int Scale), int[]> _tokens = [];
    List<(int Column, ValidationError Error)> _errors = [];
    int LatestScale = -1;
    bool _interactive;
    bool _dirty;

    /// <summary>
    /// What every quick setup varies one setting of: the chosen model's recommended settings, else StarStudio's
    /// general defaults. Comparing against settings the model was never meant to run with would mislead.
    /// </summary>
    public SamplerSettings Base => SamplerSettings.From(Recommended ?? Model.Presets.SamplingDefaults.General);

    Model.Presets.SamplingDefaults? Recommended => Generation.Host.InfoFor(ModelName)?.Recommended;

    IEnumerable<(string, Action)> Presets =>
    [
        ("CFG 2 vs 6", StartOver),
        ("Standard vs stable", () => SetColumns(Base with { StableSampling = false }, Base with { StableSampling = true })),
        ("Top-k small vs all", () => SetColumns(Base with { TopK = Math.Min(600, Vocab) }, Base with { TopK = Vocab })),
        ("Smooth off vs on", () => SetColumns(Base with { MoreSmooth = false }, Base with { MoreSmooth = true })),
        ("CFG 0 / 2 / 4 / 8", () => SetColumns(Base with { Cfg = 0 }, Base with { Cfg = 2 }, Base with { Cfg = 4 }, Base with { Cfg = 8 })),
    ];

    int Vocab => Generation.Host.InfoFor(ModelName)?.Limits.VocabSize ?? 4096;

    /// <summary>The loaded model every column draws with (null: the active one).</summary>
    public string? ModelName { get; set; }

    /// <summary>The first quick setup: guidance 2 against 6, everything else as <see cref="Base"/>.</summary>
    void StartOver() => SetColumns(Base with { Cfg = 2 }, Base with { Cfg = 6 });

    protected override void OnInitialized()
    {
        ModelName = Generation.Host.ActiveModel;
        StartOver();
    }

    /// <summary>Another model, other recommended settings: the columns start over from the first quick setup.</summary>
    void OnModelChanged(string? model)
    {
        ModelName = model;
        _errors = [];
        StartOver();
    }

    void SetColumns(params SamplerSettings[] columns)
    {
        if (Running) return;
        Columns.Clear();
        Columns.AddRange(columns);
        _errors = [];
    }

    static string Key(int column, int scale) => $"cmp-{column}-{scale}";
    IEnumerable<ValidationError> ColumnErrors(int column) => _errors.Where(e => e.Column == column).Select(e => e.Error);
    string? ErrorFor(int column, string field) =>
        _errors.FirstOrDefault(e => (column < 0 || e.Column == column) && e.Error.Field == field).Error?.Message;

    public IReadOnlyList<GenerationRequest> BuildRequests()
    {
        bool text = Generation.Host.InfoFor(ModelName)?.Limits.TextConditional ?? true;
        return Columns.Select(s => new GenerationRequest
        {
            Prompts = text ? [Prompt ?? ""] : [],
            ClassLabels = text ? [] : [0],
            Seed = Seed,
            Cfg = s.Cfg,
            TopK = s.TopK,
            TopP = s.TopP,
            MoreSmooth = s.MoreSmooth,
            StableSampling = s.StableSampling,
        }).ToArray();
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (firstRender)
        {
            _interactive = true;
            StateHasChanged();
        }
        if (_dirty)
        {
            _dirty = false;
            await JS.InvokeVoidAsync("starstudio.fillKeys");
        }
    }

    public async Task RunAsync()
    {
        if (Running) return;
        var requests = BuildRequests();
        _errors = requests.SelectMany((r, c) => Generation.Host.Validate(r, ModelName).Select(e => (c, e))).ToList();
        if (_errors.Count > 0) { Status = "Fix the marked settings first."; return; }

        Running = true;
        Status = "Queued…";
        ScaleRows.Clear();
        _tokens.Clear();
        Totals.Clear();
        FirstDivergence = null;
        LatestScale = -1;
        await JS.InvokeVoidAsync("starstudio.clearKeys", "cmp-");
        try
        {
            var final = await Generation.RunGroupAsync(requests, OnUpdateAsync, model: ModelName);
            Status = final switch
            {
                JobCompleted => FirstDivergence is { } d ? $"Done. The columns first differ at scale {d + 1}." : "Done. The columns are identical at every scale.",
                JobFailed f => "Generation failed: " + f.Message,
                _ => "Stopped.",
            };
            if (final is JobCompleted done)
                for (int c = 0; c < done.Results.Count; c++) Totals[c] = done.Results[c].TotalMs;
        }
        catch (InvalidGenerationRequestException e)
        {
            _errors = e.Errors.Select(x => (0, x)).ToList();
            Status = "Fix the marked settings first.";
        }
        catch (InvalidOperationException e) { Status = e.Message; }
        finally
        {
            Running = false;
            _dirty = true;
            StateHasChanged();
        }
    }

    async Task OnUpdateAsync(JobUpdate update)
    {
        switch (update)
        {
            case JobQueued q:
                Status = q.Ahead > 0 ? $"Queued: {q.Ahead} ahead" : "Starting…";
                break;
            case JobFrame { Frame: var f, Column: var c }:
                if (f.Pngs is { Count: > 0 } pngs) await JS.TrySendAsync("starstudio.put", Key(c, f.ScaleIndex), pngs[0]);
                _tokens[(c, f.ScaleIndex)] = f.Tokens[0];
                if (!ScaleRows.Any(r => r.Scale == f.ScaleIndex)) ScaleRows.Add(new CompareScaleRow(f.ScaleIndex, f.Side));
                // A scale is complete when every column delivered it: show it everywhere at once and compare tokens.
                if (c == Columns.Count - 1)
                {
                    LatestScale = f.ScaleIndex;
                    if (FirstDivergence is null && Enumerable.Range(1, Columns.Count - 1)
                            .Any(k => !_tokens[(k, f.ScaleIndex)].AsSpan().SequenceEqual(_tokens[(0, f.ScaleIndex)])))
                        FirstDivergence = f.ScaleIndex;
                    Status = $"Scale {f.ScaleIndex + 1} of {f.ScaleCount}";
                }
                _dirty = true;
                break;
        }
        StateHasChanged();
    }

    public ValueTask DisposeAsync()
    {
        Generation.Stop();
        return ValueTask.CompletedTask;
    }
}
