using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Services;

namespace StarStudio.Web.Components.Pages;

/// <summary>One scale of the explored image.</summary>
public sealed record ExploreScale(int Scale, int Side, double MeanConfidence);

/// <summary>
/// Scale explorer for a stored generation. The stored token maps are replayed through the pipeline as a fork that
/// keeps every scale (PrefixTokens), which rebuilds each scale's image exactly without storing them; then any
/// prefix can be kept and the finer scales regenerated with a new seed, prompt or CFG.
/// </summary>
public partial class Explore
{
    [Inject] GenerationService Generation { get; set; } = null!;
    [Inject] HistoryStore History { get; set; } = null!;
    [Inject] IJSRuntime JS { get; set; } = null!;

    [Parameter] public long Id { get; set; }

    public HistoryEntry? Entry { get; private set; }
    public ScaleMaps? Maps { get; private set; }
    public List<ExploreScale> Scales { get; } = [];
    public string? Status { get; private set; }
    public bool Running { get; private set; }

    /// <summary>Scales to keep in a fork (0 = no fork chosen).</summary>
    public int ForkKeep { get; set; }
    public string ForkPrompt { get; set; } = "";
    public long ForkSeed { get; set; }
    public double ForkCfg { get; set; }
    public string? ForkError { get; private set; }
    public long? ForkResultId { get; private set; }
    public List<int> ForkFrames { get; } = [];

    bool _interactive;
    bool _dirty;
    long _loadedId = -1;

    protected override void OnParametersSet()
    {
        if (_loadedId == Id) return;
        _loadedId = Id;
        Entry = History.Get(Id);
        Maps = Entry is null ? null : History.GetScales(Id);
        Scales.Clear();
        ForkKeep = 0;
        ForkFrames.Clear();
        ForkResultId = null;
        if (Entry is null) return;
        ForkPrompt = Entry.Metadata.Prompt ?? "";
        ForkSeed = Entry.Metadata.Seed + 1;
        ForkCfg = Entry.Metadata.Cfg;
        if (Maps is null) { Status = "This image was stored without its token maps; it cannot be explored."; return; }
        var patchNums = Entry.Metadata.PatchNums;
        for (int si = 0; si < Maps.Tokens.Count; si++)
            Scales.Add(new ExploreScale(si, patchNums[si], Maps.Confidence[si].Length == 0 ? 0 : Maps.Confidence[si].Average()));
        Status = "Rebuilding every scale…";
        _replayPending = true;
    }

    bool _replayPending;

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (firstRender)
        {
            _interactive = true;
            StateHasChanged();
        }
        if (_replayPending && _interactive)
        {
            _replayPending = false;
            await ReplayAsync();
        }
        if (_dirty)
        {
            _dirty = false;
            await JS.InvokeVoidAsync("starstudio.fillKeys");
        }
    }

    /// <summary>The model that made the stored image (its token maps mean nothing to another one); null for entries
    /// that don't name one (the active model then).</summary>
    string? EntryModel => string.IsNullOrEmpty(Entry?.Metadata.Model) ? null : Entry.Metadata.Model;

    IReadOnlyList<IReadOnlyList<int[]>> Prefix(int scales) =>
        Maps!.Tokens.Take(scales).Select(t => (IReadOnlyList<int[]>)[t]).ToArray();

    /// <summary>Replays the stored tokens (nothing is sampled; the result is not stored again).</summary>
    public async Task ReplayAsync()
    {
        if (Entry is null || Maps is null || Running) return;
        var request = Entry.Metadata.ToRequest() with { PrefixTokens = Prefix(Maps.Tokens.Count), Previews = PreviewMode.Full };
        Running = true;
        await JS.InvokeVoidAsync("starstudio.clearKeys", "exp-");
        RgbImage? before = null;
        try
        {
            var final = await Generation.RunAsync(request, async update =>
            {
                if (update is not JobFrame { Frame: { Pngs: { Count: > 0 } pngs } f }) return;
                var now = PngWriter.Decode(pngs[0]);
                int si = f.ScaleIndex, side = f.Side;
                await JS.TrySendAsync("starstudio.put", $"exp-img-{si}", pngs[0]);
                await JS.TrySendAsync("starstudio.put", $"exp-res-{si}", ScaleImages.Png(ScaleImages.Residual(now, before)));
                await JS.TrySendAsync("starstudio.put", $"exp-tok-{si}", ScaleImages.Png(ScaleImages.TokenMap(Maps.Tokens[si], side)));
                await JS.TrySendAsync("starstudio.put", $"exp-conf-{si}", ScaleImages.Png(ScaleImages.Confidence(Maps.Confidence[si], side)));
                before = now;
            }, keepInHistory: false, model: EntryModel);
            Status = final switch
            {
                JobCompleted => $"{Scales.Count} scales. Pick one to fork from: the scales up to it are kept, the finer ones regenerated.",
                JobFailed failed => "Could not rebuild the scales: " + failed.Message,
                _ => "Stopped.",
            };
        }
        catch (Exception e) when (e is InvalidGenerationRequestException or InvalidOperationException)
        {
            Status = "Could not rebuild the scales: " + e.Message;
        }
        finally
        {
            Running = false;
            _dirty = true;
            StateHasChanged();
        }
    }

    public async Task ForkAsync()
    {
        if (Entry is null || Maps is null || Running || ForkKeep < 1) return;
        var request = Entry.Metadata.ToRequest() with
        {
            Prompts = Entry.Metadata.Prompt is null ? [] : [ForkPrompt ?? ""],
            Seed = ForkSeed,
            Cfg = ForkCfg,
            PrefixTokens = Prefix(ForkKeep),
        };
        var errors = Generation.Host.Validate(request, EntryModel);
        ForkError = errors.Count > 0 ? string.Join(" ", errors.Select(e => e.Message)) : null;
        if (ForkError is not null) return;
        Running = true;
        ForkFrames.Clear();
        ForkResultId = null;
        await JS.InvokeVoidAsync("starstudio.clearKeys", "fork-");
        try
        {
            var final = await Generation.RunAsync(request, async update =>
            {
                if (update is not JobFrame { Frame: var f }) return;
                if (f.Pngs is { Count: > 0 } pngs) await JS.TrySendAsync("starstudio.put", $"fork-{f.ScaleIndex}", pngs[0]);
                ForkFrames.Add(f.ScaleIndex);
                _dirty = true;
                StateHasChanged();
            }, model: EntryModel);
            if (final is JobCompleted done) ForkResultId = done.Result.HistoryIds.FirstOrDefault();
            else if (final is JobFailed failed) ForkError = failed.Message;
        }
        catch (Exception e) when (e is InvalidGenerationRequestException or InvalidOperationException)
        {
            ForkError = e.Message;
        }
        finally
        {
            Running = false;
            _dirty = true;
            StateHasChanged();
        }
    }

    public ValueTask DisposeAsync()
    {
        Generation.Stop();
        return ValueTask.CompletedTask;
    }
}
