using Microsoft.AspNetCore.Components;
using StarStudio.Model.Models;
using StarStudio.Web.Services;

namespace StarStudio.Web.Components.Pages;

/// <summary>
/// The model manager: the model folders (size, kind, status, memory estimate), load with progress and a refusal
/// when memory is short, unload, choose the active model, import a folder of official files.
/// </summary>
public partial class Models : IDisposable
{
    [Inject] ModelHost Host { get; set; } = null!;

    /// <summary>The folder field (an id from the list or a path inside a model root).</summary>
    public string Folder { get; set; } = "";

    /// <summary>Import only: the scale schedule of a checkpoint that matches no preset (e.g. "1,2,3,4"); empty: from the preset.</summary>
    public string Schedule { get; set; } = "";

    IReadOnlyList<CatalogEntry>? _entries;
    long _available;
    string? _message;
    bool _messageIsError;
    string? _report;
    bool _interactive;

    protected override async Task OnInitializedAsync()
    {
        Host.Changed += OnHostChanged;
        await RefreshAsync();
    }

    void OnHostChanged() => _ = InvokeAsync(StateHasChanged);

    // The page is prerendered: buttons do nothing until the circuit is up, which this marker tells tests.
    protected override void OnAfterRender(bool firstRender)
    {
        if (!firstRender) return;
        _interactive = true;
        StateHasChanged();
    }

    // Listing reads every folder and builds each model on the meta device for its estimate: off the circuit's thread.
    public async Task RefreshAsync()
    {
        _available = Host.AvailableForModels();
        try { _entries = await Task.Run(() => Host.Catalog.List()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _entries = [];
            Say($"Could not read the model folders: {e.Message}", error: true);
        }
    }

    // By name: the host keeps one model per name, so a folder whose model name is loaded cannot be loaded again.
    bool IsLoaded(CatalogEntry e) => Host.InfoFor(e.Name) is not null;

    static string StatusText(ModelStatus s) => s switch
    {
        ModelStatus.Ready => "ready",
        ModelStatus.NeedsImport => "needs import",
        _ => "invalid",
    };

    void Say(string message, bool error)
    {
        _message = message;
        _messageIsError = error;
    }

    public async Task LoadAsync(string idOrPath)
    {
        _message = null;
        try
        {
            var info = await Host.LoadModelAsync(idOrPath.Trim());
            Say($"Loaded {info.Name}; it is now the active model.", error: false);
        }
        // Whatever went wrong (outside the roots, too big, broken files, native torch errors) is said here; the loaded
        // models and the app carry on.
        catch (Exception e)
        {
            Say(e is ModelTooLargeException ? e.Message : $"Could not load '{idOrPath}': {e.Message}", error: true);
        }
    }

    public async Task ImportAsync(string idOrPath)
    {
        _message = null;
        _report = null;
        try
        {
            var options = new ImportOptions { PatchNums = ParseSchedule(Schedule) };
            var report = await Task.Run(() => Host.Catalog.Import(idOrPath.Trim(), options));
            _report = string.Join('\n', report.Lines());
            Say(report.Ok ? $"Imported '{idOrPath}': model.json written, it can be loaded now." : $"'{idOrPath}' does not match an official model; see the report.", !report.Ok);
            await RefreshAsync();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or InvalidDataException or ArgumentException)
        {
            Say(e.Message, error: true);
        }
    }

    static int[]? ParseSchedule(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) return null;
        return parts.Select(p => int.TryParse(p, out int n) && n > 0 ? n
            : throw new ArgumentException($"Scale schedule: '{p}' is not a positive whole number (write e.g. 1,2,3,4).")).ToArray();
    }

    void Activate(string name) => Host.Activate(name);

    void Unload(string name)
    {
        try
        {
            Host.Unload(name);
            Say($"Unloaded {name}.", error: false);
        }
        catch (InvalidOperationException e) { Say(e.Message, error: true); }
    }

    public void Dispose() => Host.Changed -= OnHostChanged;
}
