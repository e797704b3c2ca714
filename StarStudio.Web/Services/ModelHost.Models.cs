using StarStudio.Model.Checkpoints;
using StarStudio.Model.Generation;
using StarStudio.Model.Models;

namespace StarStudio.Web.Services;

/// <summary>Where a model load started from the model manager has got to.</summary>
public sealed record ModelLoadState(string Id, double Fraction, string Stage);

/// <summary>The loaded models, by name: loading (off the model threads, so generations go on), unloading, the active one.</summary>
public sealed partial class ModelHost
{
    /// <summary>A loaded model and the jobs using it: an unloaded model is freed only when its last job ends.</summary>
    sealed class LoadedModel(ScaleWiseModel model, ModelInfo info)
    {
        public ScaleWiseModel Model { get; } = model;
        public GenerationPipeline Pipeline { get; } = new(model);
        public ModelInfo Info { get; } = info;
        public int Users;
        public bool Unloaded;
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to a synchronization context).</summary>
    sealed class InlineProgress(Action<ModelLoadProgress> report) : IProgress<ModelLoadProgress>
    {
        public void Report(ModelLoadProgress value) => report(value);
    }

    readonly OrderedDictionary<string, LoadedModel> _models = new(StringComparer.Ordinal); // keeps load order through unloads
    string? _active;
    ModelLoadState? _loading;

    /// <summary>Called on the load thread with each progress report (tests hold a load half-way with it).</summary>
    internal Action<ModelLoadProgress>? LoadProgressHook { get; set; }

    /// <summary>The model folders the model manager lists and loads from (nothing outside them).</summary>
    public ModelCatalog Catalog { get; }

    /// <summary>The model used by requests that name none (the startup model until another is loaded or chosen).</summary>
    public string? ActiveModel { get { lock (_gate) return _active; } }
    /// <summary>The active model (null while the startup model loads, or when it failed and nothing else is loaded).</summary>
    public ModelInfo? Info => InfoFor(null);
    /// <summary>Every loaded model, in load order.</summary>
    public IReadOnlyList<ModelInfo> Models { get { lock (_gate) return _models.Values.Select(m => m.Info).ToArray(); } }
    /// <summary>The model manager's load in progress, if any.</summary>
    public ModelLoadState? Loading { get { lock (_gate) return _loading; } }

    /// <summary>A loaded model by name (null: the active one); null when it is not loaded.</summary>
    public ModelInfo? InfoFor(string? model) => Find(model)?.Info;

    LoadedModel? Find(string? model)
    {
        lock (_gate) return (model ?? _active) is { } name && _models.TryGetValue(name, out var m) ? m : null;
    }

    ValidationError UnknownModel(string model) =>
        new("model", $"No model named '{model}' is loaded. Loaded: {string.Join(", ", Models.Select(m => m.Name))}.");

    static ModelCatalog CatalogFor(StarStudioOptions options) =>
        options.ModelRoots is { Length: > 0 } roots ? new ModelCatalog(roots) : ModelCatalog.FromEnvironment();

    /// <summary>Memory the estimate of a model to load is checked against (StarStudio:AssumeAvailableMemoryMiB, else
    /// what the machine has available now).</summary>
    public long AvailableForModels() =>
        _options.AssumeAvailableMemoryMiB > 0 ? _options.AssumeAvailableMemoryMiB << 20 : MemoryEstimator.AvailableBytes();

    ModelInfo Register(ScaleWiseModel model, string source, bool random, bool activate)
    {
        int resolution = model.Transformer.PatchNums[^1] * model.Vae.Config.DownsampleFactor;
        var info = new ModelInfo(model.Name, source, random, model.Limits, resolution, model.Recommended);
        lock (_gate)
        {
            // A load that finishes after shutdown would leak: the caller frees the model.
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
            EnsureNameFree(model.Name);
            _models[model.Name] = new LoadedModel(model, info);
            if (activate || _active is null) _active = model.Name;
            State = ModelState.Ready;
        }
        _log.LogInformation("Model {Name} ready ({Source}).", model.Name, source);
        return info;
    }

    void EnsureNameFree(string name)
    {
        lock (_gate)
            if (_models.ContainsKey(name)) throw new InvalidOperationException($"A model named '{name}' is already loaded; unload it first.");
    }

    /// <summary>
    /// Loads a model folder of the catalog on a thread of its own (the queue keeps running meanwhile) after checking
    /// its memory estimate (<see cref="ModelTooLargeException"/>). Paths outside the model roots fail with
    /// <see cref="UnauthorizedAccessException"/>. The task faults with the reason; the loaded models are untouched then.
    /// </summary>
    /// <param name="activate">Make it the model of requests that name none.</param>
    public Task<ModelInfo> LoadModelAsync(string idOrPath, bool activate = true)
    {
        var done = new TaskCompletionSource<ModelInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        string folder;
        try { folder = Catalog.Resolve(idOrPath); }
        catch (UnauthorizedAccessException e) { done.SetException(e); return done.Task; }
        lock (_gate)
        {
            if (_loading is { } busy)
            {
                done.SetException(new InvalidOperationException($"'{busy.Id}' is loading; wait for it to finish."));
                return done.Task;
            }
            _loading = new ModelLoadState(idOrPath, 0, "Starting");
        }
        Changed?.Invoke();
        var thread = new Thread(() =>
        {
            ScaleWiseModel? model = null;
            ModelInfo? info = null;
            Exception? error = null;
            try
            {
                var progress = new InlineProgress(p =>
                {
                    lock (_gate) _loading = new ModelLoadState(idOrPath, p.Fraction, p.Stage);
                    Changed?.Invoke();
                    LoadProgressHook?.Invoke(p);
                });
                EnsureNameFree(ModelManifest.Load(folder).Name); // before spending the time and memory
                model = Catalog.Load(folder, progress: progress, availableBytes: AvailableForModels());
                info = Register(model, folder, random: false, activate);
                model = null; // the host owns it now
            }
            catch (Exception e)
            {
                _log.LogWarning("Loading {Model} failed: {Message}", idOrPath, e.Message);
                model?.Dispose();
                error = e;
            }
            // Not loading any more before anyone awaiting the load hears the outcome.
            lock (_gate) _loading = null;
            Changed?.Invoke();
            if (error is null) done.SetResult(info!);
            else done.SetException(error);
        }) { IsBackground = true, Name = "StarStudio model load" };
        thread.Start();
        return done.Task;
    }

    /// <summary>Makes a loaded model the one used by requests that name none.</summary>
    public void Activate(string model)
    {
        lock (_gate)
        {
            if (!_models.ContainsKey(model)) throw new InvalidOperationException(UnknownModel(model).Message);
            _active = model;
        }
        Changed?.Invoke();
    }

    /// <summary>
    /// Unloads a model: queued jobs for it fail with a message, running ones finish first (its memory is freed when
    /// the last one ends). The last loaded model stays (the app would have nothing to draw with).
    /// </summary>
    public void Unload(string model)
    {
        LoadedModel? free = null;
        lock (_gate)
        {
            if (!_models.TryGetValue(model, out var m)) throw new InvalidOperationException(UnknownModel(model).Message);
            if (_models.Count == 1) throw new InvalidOperationException($"'{model}' is the only loaded model; load another before unloading it.");
            _models.Remove(model);
            m.Unloaded = true;
            if (_active == model) _active = _models.Keys.First();
            if (m.Users == 0) free = m;
        }
        free?.Model.Dispose();
        _log.LogInformation("Model {Name} unloaded.", model);
        Changed?.Invoke();
    }

    /// <summary>The jobs' model (they share one), marked in use; null (and the jobs failed) when it is not loaded any more.</summary>
    LoadedModel? Acquire(params IReadOnlyList<GenerationJob> jobs)
    {
        var job = jobs[0];
        lock (_gate)
        {
            if (job.Model is { } name && _models.TryGetValue(name, out var m))
            {
                m.Users++;
                return m;
            }
        }
        foreach (var j in jobs)
            j.Finish(new JobFailed(job.Model is null ? $"No model is loaded: {LoadError}" : $"The model '{job.Model}' is not loaded any more."));
        return null;
    }

    void Release(LoadedModel m)
    {
        bool free;
        lock (_gate) free = --m.Users == 0 && m.Unloaded;
        if (free) m.Model.Dispose();
    }

    void DisposeModels()
    {
        LoadedModel[] all;
        lock (_gate)
        {
            all = _models.Values.ToArray();
            _models.Clear();
        }
        foreach (var m in all) m.Model.Dispose();
    }
}
